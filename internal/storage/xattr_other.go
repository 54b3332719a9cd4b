//go:build !linux && !darwin

package storage

import (
	"errors"
	"os"
)

func setType(*os.File, string) error { return errors.ErrUnsupported }

func fileType(*os.File) (string, bool) { return "", false }
