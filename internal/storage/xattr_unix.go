//go:build linux || darwin

package storage

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// typeAttr is the extended attribute holding an object's content type on
// its file, so that the type is part of the inode the bytes are in.
const typeAttr = "user.devbot.content_type"

// setType records ct on f; an error (a filesystem without user extended
// attributes, a type too long for one) means the caller must keep the type
// elsewhere.
func setType(f *os.File, ct string) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Fsetxattr(int(fd), typeAttr, []byte(ct), 0) }); err != nil {
		return err
	}
	return serr
}

// fileType is the content type recorded on f, and false if there is none.
func fileType(f *os.File) (string, bool) {
	rc, err := f.SyscallConn()
	if err != nil {
		return "", false
	}
	var (
		buf [256]byte
		ct  string
		ok  bool
	)
	_ = rc.Control(func(fd uintptr) {
		n, err := unix.Fgetxattr(int(fd), typeAttr, buf[:])
		if errors.Is(err, unix.ERANGE) {
			// Longer than usual: ask for its size, then read it.
			if n, err = unix.Fgetxattr(int(fd), typeAttr, nil); err == nil {
				b := make([]byte, n)
				if n, err = unix.Fgetxattr(int(fd), typeAttr, b); err == nil {
					ct, ok = string(b[:n]), true
				}
			}
			return
		}
		if err == nil {
			ct, ok = string(buf[:n]), true
		}
	})
	return ct, ok
}
