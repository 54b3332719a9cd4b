#ifndef API_H
#define API_H

struct config;

typedef struct config config_t;

int api_init(config_t *cfg);
void api_close(void);
const char *api_version(void);

#endif
