import logging
logging.info(“started”)
