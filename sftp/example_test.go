package sftp_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/sftp"
	"github.com/golibssh/libssh/sshtest"
)

// exampleServer starts an sshtest server whose SFTP root is dir, and logs
// in to it.
func exampleServer(dir string) (*sshtest.Server, *libssh.Session, error) {
	srv, err := sshtest.NewServer(sshtest.Options{AuthNone: true, SFTP: &sshtest.SFTP{Root: dir}})
	if err != nil {
		return nil, nil, err
	}
	s, err := libssh.Dial(context.Background(), srv.Addr(), libssh.WithUser("tester"),
		libssh.WithKnownHosts(srv.KnownHostsFile()), libssh.WithAuth(libssh.AuthOptions{}))
	if err != nil {
		srv.Close()
		return nil, nil, err
	}
	return srv, s, nil
}

// Walk a remote tree with fs.WalkDir on the client's io/fs view.
func ExampleClient_DirFS() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	os.MkdirAll(filepath.Join(dir, "docs/img"), 0o755)
	os.WriteFile(filepath.Join(dir, "docs/index.md"), []byte("# hello\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "docs/img/logo.png"), []byte("png"), 0o644)

	srv, s, err := exampleServer(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	defer s.Close()
	c, err := sftp.NewClient(context.Background(), s)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	err = fs.WalkDir(c.DirFS("/docs"), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fmt.Println(p, d.IsDir())
		return nil
	})
	fmt.Println(err)
	// Output:
	// . true
	// img true
	// img/logo.png false
	// index.md false
	// <nil>
}

// Upload a file with a progress callback: it arrives under its final
// name only once it is whole.
func ExampleUpload() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	local := filepath.Join(dir, "report.csv")
	os.WriteFile(local, make([]byte, 1<<20), 0o644)
	os.Mkdir(filepath.Join(dir, "remote"), 0o755)

	srv, s, err := exampleServer(filepath.Join(dir, "remote"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	defer s.Close()
	c, err := sftp.NewClient(context.Background(), s)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	var last int64
	progress := sftp.WithProgress(func(name string, done, total int64) {
		last = done // show done/total to the user
	})
	err = sftp.Upload(context.Background(), c, local, "/report.csv", progress, sftp.WithPreserve())
	fmt.Println(err, last)
	fi, err := c.Stat("/report.csv")
	fmt.Println(fi.Size(), fi.Mode(), err)
	// Output:
	// <nil> 1048576
	// 1048576 -rw-r--r-- <nil>
}
