package image

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

func goarch() string { return runtime.GOARCH }

// User is a resolved process identity.
type User struct {
	UID, GID       uint32
	AdditionalGIDs []uint32
}

// ResolveUser resolves an image USER ("", "1000", "1000:1000", "name", "name:group") against the
// rootfs's /etc/passwd and /etc/group.
func ResolveUser(rootfs, spec string) (User, error) {
	if spec == "" {
		return User{}, nil
	}
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	var u User
	if n, err := strconv.ParseUint(userPart, 10, 32); err == nil {
		u.UID = uint32(n)
		if e, ok := lookup(filepath.Join(rootfs, "etc/passwd"), func(f []string) bool { return f[2] == userPart }); ok {
			if g, err := strconv.ParseUint(e[3], 10, 32); err == nil {
				u.GID = uint32(g)
			}
		}
	} else {
		e, ok := lookup(filepath.Join(rootfs, "etc/passwd"), func(f []string) bool { return f[0] == userPart })
		if !ok {
			return User{}, fmt.Errorf("unable to find user %s: no matching entries in passwd file", userPart)
		}
		uid, _ := strconv.ParseUint(e[2], 10, 32)
		gid, _ := strconv.ParseUint(e[3], 10, 32)
		u.UID, u.GID = uint32(uid), uint32(gid)
	}
	if hasGroup {
		if n, err := strconv.ParseUint(groupPart, 10, 32); err == nil {
			u.GID = uint32(n)
		} else {
			e, ok := lookup(filepath.Join(rootfs, "etc/group"), func(f []string) bool { return f[0] == groupPart })
			if !ok {
				return User{}, fmt.Errorf("unable to find group %s: no matching entries in group file", groupPart)
			}
			gid, _ := strconv.ParseUint(e[2], 10, 32)
			u.GID = uint32(gid)
		}
	}
	return u, nil
}

func lookup(path string, match func([]string) bool) ([]string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) >= 4 && match(fields) {
			return fields, true
		}
	}
	return nil, false
}
