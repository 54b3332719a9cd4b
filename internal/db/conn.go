package db

import (
	"errors"

	"github.com/jackc/pgx/v5"
)

func stdlibConfig(url string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, errors.New("db: DATABASE_URL cannot be parsed as a PostgreSQL connection string")
	}
	// Migrations are few and run once: the simple protocol works through any
	// pooler mode.
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	return cfg, nil
}
