package localaws

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// listening reports whether process pid (or a process it started in its group: the check
// reads only pid's own descriptors) listens on 127.0.0.1:port. A port picked free by
// FreePort can be taken by another process before the server binds it; a dial to the port
// then reaches that other process, and only the socket's owner tells them apart. known is
// false where /proc cannot answer (not Linux): the caller falls back to the dial alone.
func listening(pid, port int) (ok, known bool, err error) {
	inodes, err := listenInodes(port)
	if err != nil {
		if os.IsNotExist(err) {
			return false, false, nil
		}
		return false, false, err
	}
	if len(inodes) == 0 {
		return false, true, nil
	}
	fds, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))
	if err != nil {
		return false, true, err
	}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "fd", fd.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		if ino, found := strings.CutPrefix(link, "socket:["); found && inodes[strings.TrimSuffix(ino, "]")] {
			return true, true, nil
		}
	}
	return false, true, nil
}

// listenInodes returns the socket inodes listening on 127.0.0.1:port (/proc/net/tcp).
func listenInodes(port int) (map[string]bool, error) {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	want := fmt.Sprintf("0100007F:%04X", port)
	out := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
		fields := strings.Fields(sc.Text())
		if len(fields) >= 10 && fields[1] == want && fields[3] == "0A" {
			out[fields[9]] = true
		}
	}
	return out, sc.Err()
}
