package db

import (
	"context"
	"io/fs"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
)

// MigrateBelow applies the embedded migrations numbered below version, so a
// test can write rows as an older schema had them and then migrate up.
func MigrateBelow(ctx context.Context, url string, version int64) error {
	cfg, err := stdlibConfig(url)
	if err != nil {
		return err
	}
	sqlDB := stdlib.OpenDB(*cfg)
	defer sqlDB.Close()
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, sub, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return err
	}
	target := int64(0)
	for _, s := range p.ListSources() {
		if s.Version < version && s.Version > target {
			target = s.Version
		}
	}
	_, err = p.UpTo(ctx, target)
	return err
}
