// Command link is `make bench-link`: downloads and uploads over loopback
// links with a chosen round-trip time (bench/internal/delayrelay), through this
// package, OpenSSH's ssh client (when installed) and bench/cbench.c (plain C
// libssh), against OpenSSH's sshd (internal/sshdtest), in one interleaved
// run: at each round-trip time, every round runs each client once per
// direction, in an order that rotates by round, and the table gives the
// median rate of each client and the median of the per-round ratios.
//
// Every client opens a channel on an authenticated connection, runs
// `head -c SIZE /dev/zero` (download) or `cat >/dev/null` (upload, SIZE
// bytes of zeros sent, then EOF), and waits for the exit status; the
// connection's set-up is not timed. chacha20-poly1305 is the only cipher
// sshd offers, and each client asks for it too. Every client checks sshd's
// host key against a known_hosts file (ssh with StrictHostKeyChecking=yes).
//
// At 0 ms the clients connect to sshd directly, not through a relay: on
// two cores a loopback transfer keeps both busy, and the relay, which then
// waits for a core at every hop, cut the SSH downloads to a third.
//
//   - go: this package as a user writes it: Dial, then Session.CommandLine
//     with StdoutPipe read (download) or StdinPipe written (upload) 256 KiB
//     at a time, then Wait; it runs as a child process of its own.
//   - ssh: a ControlMaster connection set up once per round-trip time and
//     table, then one `ssh -S` per transfer (the master reads and writes
//     the client's descriptors itself); the time includes starting that
//     ssh process.
//   - c: bench/cbench.c's download and upload modes (64 KiB reads and
//     writes), which time themselves after authentication.
//   - tcp: plain TCP through a relay like the clients' (SIZE bytes, 256 KiB
//     writes): what the link carries.
//
// The many row (-many 50x10M) runs 50 downloads of 10 MiB at once on one
// connection: go as 50 goroutines each with a Cmd, c as cbench's many mode
// (channel callbacks on one ssh_event), ssh as 50 `ssh -S` through the
// master; MB/s counts all of them. The "many RSS" row is the peak resident
// memory of the go and c client processes in it, which shows that what
// each channel buffers stays under its window.
//
// With -sftp (the default) a second table at each round-trip time compares
// SFTP "get" and "put" of a SIZE file (sparse, zeros, read once before the
// first round so that it is in the page cache; written to a file and
// removed after each transfer) against sshd's internal-sftp:
//
//   - gosftp: package sftp as a user writes it: Dial, sftp.NewClient, then
//     sftp.Download or sftp.Upload (temporary name, rename), timed after
//     the client is set up; a child process of its own.
//   - sftp: OpenSSH's sftp with its defaults, one process per transfer
//     through the SFTP table's ssh master connection, reading "get FROM
//     TO" or "put FROM TO" from stdin; the time includes starting it. Its
//     defaults are 64 requests in flight of 32 KiB (-B 32768 -R 64), but
//     OpenSSH 8.7 and later ask a server that has the "limits@openssh.com"
//     extension, as sshd's internal-sftp has, for its largest read and
//     write and use those: 261120 bytes here (as gosftp does). So the
//     defaults are OpenSSH's large requests already; `sftp -B 262144`, the
//     issue's other choice, is not clamped to the server's limit and fails
//     puts with "Outbound message too long".
//
// -sftp-impl changes the SFTP clients compared, for tuning:
// "gosftp:packet=N,conc=N" is gosftp with sftp.WithPacketSize and
// sftp.WithConcurrency, "gosftp:bin=PATH" is gosftp as another build of
// this command has it (go build -o PATH ./bench/link, on another commit),
// "sftp:-R,16" is OpenSSH's sftp with those options; -stream=false leaves
// the first table out.
//
// With -v it prints each transfer's rate, the CPU time the whole machine
// used meanwhile, and the client's where it is known: the go, c and gosftp
// client processes', and OpenSSH's sftp process's with what its ssh master
// used meanwhile.
//
// With -relay ADDR it only relays: it listens on 127.0.0.1, prints its
// address, and forwards to ADDR with half of -rtt each way until killed.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/bench/internal/delayrelay"
	"github.com/golibssh/libssh/internal/sshdtest"
	"github.com/golibssh/libssh/sftp"
)

const cipher = "chacha20-poly1305@openssh.com"

var (
	rtts      = flag.String("rtt", "0,10ms,50ms", "round-trip times to add, comma-separated (0: no relay)")
	sizes     = flag.String("size", "256M,256M,64M", "bytes per transfer at each -rtt (K, M, G suffixes)")
	rounds    = flag.String("rounds", "5,3,3", "rounds at each -rtt")
	window    = flag.Int("window", 4<<20, "the link's window: bytes in flight per direction")
	impls     = flag.String("impl", "go,ssh,c", "clients to compare (go, ssh, c)")
	sftpOn    = flag.Bool("sftp", true, "also compare SFTP get and put: package sftp (gosftp) and OpenSSH's sftp")
	sftpImpls = flag.String("sftp-impl", "gosftp sftp", "SFTP clients to compare, space-separated: gosftp[:packet=N,conc=N] and sftp[:OPTIONS,...]")
	streams   = flag.Bool("stream", true, "compare the downloads and uploads of -impl (false: only the SFTP table)")
	relay     = flag.String("relay", "", "only relay to this address (with -rtt's first value)")
	verbose   = flag.Bool("v", false, "print each round's rates to standard error")
	many      = flag.String("many", "50x10M", "CHANNELSxSIZE: the many row, that many downloads of SIZE at once on one connection (empty: no row)")
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("bench-link: ")
	if len(os.Args) > 1 && os.Args[1] == "go-client" {
		goClient(os.Args[2:])
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "sftp-client" {
		sftpClient(os.Args[2:])
		return
	}
	flag.Parse()
	rttList := split(*rtts, parseDuration)
	if *relay != "" {
		r, err := delayrelay.Start(*relay, rttList[0]/2, *window)
		if err != nil {
			die("%v", err)
		}
		fmt.Println(r.Addr())
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		<-ctx.Done()
		r.Close()
		return
	}
	sizeList, roundList := split(*sizes, parseSize), split(*rounds, strconv.Atoi)
	if len(sizeList) != len(rttList) || len(roundList) != len(rttList) {
		die("-size and -rounds need one value per -rtt")
	}
	b := setup(strings.FieldsFunc(*impls, func(r rune) bool { return r == ',' }))
	defer b.close()
	cleanup = b.close
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("%s, load average %s\n", time.Now().Format(time.RFC1123), strings.Join(strings.Fields(string(load))[:3], " "))
	fmt.Printf("reproduce: go run ./bench/link -rtt %s -size %s -rounds %s -window %d -impl %s -many %q -sftp=%v -stream=%v (make bench-link)\n",
		*rtts, *sizes, *rounds, *window, *impls, *many, *sftpOn, *streams)
	fmt.Printf("%s; link window %d KiB; MB/s = 10^6 B/s\n", cipher, *window>>10)
	if *sftpOn {
		fmt.Println("SFTP: gosftp is package sftp; sftp is OpenSSH's sftp with its defaults, which against sshd's")
		fmt.Println("internal-sftp (limits@openssh.com) are 64 requests of 261120 B in flight, as -B 261120 -R 64")
	}
	for i, rtt := range rttList {
		b.atRTT(rtt, sizeList[i], roundList[i])
	}
}

// bench is the run's fixed part: sshd, its client key and known hosts, the
// programs compared.
type bench struct {
	srv    *sshdtest.Server
	dir    string
	key    string // a 0600 copy of the client key
	impls  []string
	cbench string
	ssh    string
	sink   net.Listener // for the tcp row
	size   chan int64   // what sink's next connection gets
}

func setup(impls []string) *bench {
	srv, err := sshdtest.Start(sshdtest.Options{ConfigFirst: []string{"Ciphers " + cipher}})
	if err != nil {
		die("%v", err)
	}
	b := &bench{srv: srv, dir: srv.Dir, size: make(chan int64, 1)}
	key, err := os.ReadFile(sshdtest.Keys("id_ed25519"))
	if err != nil {
		die("%v", err)
	}
	b.key = filepath.Join(b.dir, "id_ed25519")
	if err := os.WriteFile(b.key, key, 0o600); err != nil {
		die("%v", err)
	}
	for _, impl := range impls {
		switch impl {
		case "ssh":
			if b.ssh, err = exec.LookPath("ssh"); err != nil {
				fmt.Println("no ssh client installed: left out")
				continue
			}
		case "c":
			b.cbench = buildCbench(b.dir)
		case "go":
		default:
			die("unknown -impl %q", impl)
		}
		b.impls = append(b.impls, impl)
	}
	if *sftpOn && b.ssh == "" {
		// OpenSSH's sftp goes through an ssh master connection.
		b.ssh, _ = exec.LookPath("ssh")
	}
	if b.sink, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		die("%v", err)
	}
	go b.serveSink()
	return b
}

func (b *bench) close() { b.srv.Close() }

// buildCbench returns $GOLIBSSH_CBENCH, or compiles bench/cbench.c into dir.
func buildCbench(dir string) string {
	if path := os.Getenv("GOLIBSSH_CBENCH"); path != "" {
		return path
	}
	path := filepath.Join(dir, "cbench")
	src := filepath.Join(filepath.Dir(sshdtest.TestdataDir()), "bench", "cbench.c")
	cmd := exec.Command("sh", "-c", `cc -O2 -o "$0" "$1" $(pkg-config --cflags --libs libssh)`, path, src)
	if out, err := cmd.CombinedOutput(); err != nil {
		die("building %s: %v\n%s", src, err, out)
	}
	return path
}

// link is one round-trip time: where the clients connect, and what they
// need.
type link struct {
	*bench
	addr, port string
	knownHosts string
	control    string // the ssh master's socket
}

// via returns the address of a relay to target with half of rtt each way
// (target itself if rtt is 0) and a function that closes it.
func via(target string, rtt time.Duration) (string, func() error) {
	if rtt == 0 {
		return target, func() error { return nil }
	}
	r, err := delayrelay.Start(target, rtt/2, *window)
	if err != nil {
		die("%v", err)
	}
	return r.Addr(), r.Close
}

func (b *bench) atRTT(rtt time.Duration, size int64, rounds int) {
	sshd, err := b.srv.Addr()
	if err != nil {
		die("%v", err)
	}
	l := &link{bench: b}
	addr, closeRelay := via(sshd, rtt)
	defer closeRelay()
	tcpAddr, closeTCPRelay := via(b.sink.Addr().String(), rtt)
	defer closeTCPRelay()
	l.addr = addr
	_, l.port, _ = net.SplitHostPort(addr)
	l.knownHosts = filepath.Join(b.dir, "known_hosts_"+l.port)
	line := b.srv.KnownHostsLine("[127.0.0.1]:"+l.port, "ed25519") + "\n"
	if err := os.WriteFile(l.knownHosts, []byte(line), 0o600); err != nil {
		die("%v", err)
	}
	name := fmt.Sprint(rtt, " RTT")
	if rtt == 0 {
		name = "loopback (no relay)"
	}
	fmt.Printf("\n%s, %d MiB per transfer, %d rounds\n", name, size>>20, rounds)
	dirs := []string{"download", "upload"}
	if channels, _ := manyFlag(); channels > 0 {
		dirs = append(dirs, "many")
	}
	// Each table has an ssh master of its own (see startMaster).
	if *streams {
		stop := func() {}
		if b.ssh != "" {
			stop = l.startMaster("ctl-"+l.port, size)
		}
		l.table(tcpAddr, dirs, b.impls, size, rounds)
		stop()
	}
	if *sftpOn {
		if b.ssh != "" {
			defer l.startMaster("ctl-sftp-"+l.port, size)()
		}
		var impls []string
		for _, impl := range strings.Fields(*sftpImpls) {
			switch name, _, _ := strings.Cut(impl, ":"); {
			case name == "gosftp", name == "sftp" && b.ssh != "":
				impls = append(impls, impl)
			case name != "sftp":
				die("unknown -sftp-impl %q", impl)
			}
		}
		if err := sparseFile(l.sftpSource(), size); err != nil {
			die("%v", err)
		}
		l.table(tcpAddr, []string{"get", "put"}, impls, size, rounds)
	}
}

// table runs rounds of each direction with each client, rotating their
// order by round, and prints a row per direction: the median rates and the
// median of the per-round ratios of the first client to each other.
func (l *link) table(tcpAddr string, dirs, impls []string, size int64, rounds int) {
	// Columns as wide as their names.
	width := func(name string, least int) int { return max(least, len(name)) }
	fmt.Printf("%-9s %8s", "", "tcp")
	for _, impl := range impls {
		fmt.Printf(" %*s", width(impl, 8), impl)
	}
	for _, impl := range impls[min(1, len(impls)):] {
		fmt.Printf(" %*s", width(impls[0]+"/"+impl, 11), impls[0]+"/"+impl)
	}
	fmt.Println()
	channels, each := manyFlag()
	rss := map[string][]float64{}
	for _, dir := range dirs {
		rates := map[string][]float64{}
		for round := range rounds {
			if dir != "many" {
				rates["tcp"] = append(rates["tcp"], mbps(size, l.tcp(tcpAddr, tcpDir(dir), size)))
			}
			for i := range impls {
				impl := impls[(i+round)%len(impls)]
				if dir == "many" {
					d, maxRSS := l.runMany(impl, channels, each)
					rates[impl] = append(rates[impl], mbps(int64(channels)*each, d))
					rss[impl] = append(rss[impl], maxRSS)
					logRate(round, dir, impl, rates[impl])
					continue
				}
				busy := cpuBusy()
				rates[impl] = append(rates[impl], mbps(size, l.run(impl, dir, size)))
				logRate(round, dir, impl, rates[impl])
				if *verbose {
					fmt.Fprintf(os.Stderr, "         machine CPU %.2f s\n", (cpuBusy() - busy).Seconds())
				}
			}
		}
		if dir == "many" {
			fmt.Printf("%-9s %8s", dir, "-")
		} else {
			fmt.Printf("%-9s %8.0f", dir, median(rates["tcp"]))
		}
		for _, impl := range impls {
			fmt.Printf(" %*.0f", width(impl, 8), median(rates[impl]))
		}
		for _, impl := range impls[min(1, len(impls)):] {
			ratios := make([]float64, rounds)
			for i := range ratios {
				ratios[i] = rates[impls[0]][i] / rates[impl][i]
			}
			fmt.Printf(" %*.2f", width(impls[0]+"/"+impl, 11), median(ratios))
		}
		fmt.Println()
	}
	if len(rss) > 0 {
		fmt.Printf("%-9s %8s", "many RSS", "-")
		for _, impl := range impls {
			if impl == "ssh" {
				fmt.Printf(" %8s", "-")
			} else {
				fmt.Printf(" %7.0fM", median(rss[impl]))
			}
		}
		fmt.Printf("   (peak resident MiB of the client process; many: %d downloads of %d MiB at once, MB/s in all)\n", channels, each>>20)
	}
}

// logRate prints a round's rate, the last of rates, under -v.
func logRate(round int, dir, impl string, rates []float64) {
	if *verbose {
		fmt.Fprintf(os.Stderr, "round %d: %s %s %.0f MB/s\n", round+1, dir, impl, rates[len(rates)-1])
	}
}

// cpuBusy is the time all of the machine's CPUs have spent busy (not idle
// or waiting for I/O) since it started, from /proc/stat.
func cpuBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	var ticks int64
	for i, f := range strings.Fields(line)[1:] {
		n, _ := strconv.ParseInt(f, 10, 64)
		if i != 3 && i != 4 { // idle, iowait
			ticks += n
		}
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}

// manyFlag parses -many.
func manyFlag() (channels int, each int64) {
	if *many == "" {
		return 0, 0
	}
	n, size, ok := strings.Cut(*many, "x")
	channels, err := strconv.Atoi(n)
	if err == nil {
		each, err = parseSize(size)
	}
	if !ok || err != nil || channels <= 0 || each <= 0 {
		die("-many: want CHANNELSxSIZE, as 50x10M")
	}
	return channels, each
}

// runMany runs channels downloads of each bytes at once on one connection
// with impl, and returns the time they took and the client's peak resident
// memory in MiB (0 for ssh, whose connection lives in its master).
func (l *link) runMany(impl string, channels int, each int64) (time.Duration, float64) {
	n, size := strconv.Itoa(channels), strconv.FormatInt(each, 10)
	var cmd *exec.Cmd
	switch impl {
	case "go":
		self, err := os.Executable()
		if err != nil {
			die("%v", err)
		}
		cmd = exec.Command(self, "go-client", l.addr, l.srv.User, l.key, l.knownHosts, "many", size, n)
	case "c":
		cmd = exec.Command(l.cbench, "127.0.0.1", l.port, l.srv.User, l.key, l.knownHosts, "many", n, size)
	default:
		errs := make(chan error, channels)
		start := time.Now()
		for range channels {
			go func() {
				errs <- transfer(l.sshCmd("head -c "+size+" /dev/zero", "-o", "ControlMaster=no"), "download", each)
			}()
		}
		for range channels {
			if err := <-errs; err != nil {
				die("ssh many: %v", err)
			}
		}
		return time.Since(start), 0
	}
	d := timeOutput(cmd)
	return d, float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) / 1024
}

// sparseFile makes name a sparse file of size zeros, in the page cache.
func sparseFile(name string, size int64) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	// The first read of a hole fills the page cache with zeroed pages,
	// which took the first get of each run at half speed: read it once
	// here, so that no client pays for it.
	_, err = io.Copy(io.Discard, f)
	return errors.Join(err, f.Close())
}

// tcpDir is the plain TCP direction of a client's direction.
func tcpDir(dir string) string {
	if dir == "get" {
		return "download"
	}
	if dir == "put" {
		return "upload"
	}
	return dir
}

// The SFTP transfers read the sparse file sftpSource (on both sides: they
// share the machine) and write sftpTarget, removed after each.
func (l *link) sftpSource() string { return filepath.Join(l.dir, "sftp-source") }
func (l *link) sftpTarget() string { return filepath.Join(l.dir, "sftp-target") }

// run does one transfer with impl and returns its time.
func (l *link) run(impl, dir string, size int64) time.Duration {
	n := strconv.FormatInt(size, 10)
	switch impl {
	case "go":
		self, err := os.Executable()
		if err != nil {
			die("%v", err)
		}
		return timeOutput(exec.Command(self, "go-client", l.addr, l.srv.User, l.key, l.knownHosts, dir, n))
	case "c":
		return timeOutput(exec.Command(l.cbench, "127.0.0.1", l.port, l.srv.User, l.key, l.knownHosts, dir, "1", n))
	}
	if name, extra, _ := strings.Cut(impl, ":"); name == "gosftp" || name == "sftp" {
		defer os.Remove(l.sftpTarget())
		from, to := l.sftpSource(), l.sftpTarget()
		if name == "gosftp" {
			self, err := os.Executable()
			if err != nil {
				die("%v", err)
			}
			if b, ok := strings.CutPrefix(extra, "bin="); ok {
				self, extra = b, ""
			}
			return timeOutput(exec.Command(self, "sftp-client", l.addr, l.srv.User, l.key, l.knownHosts, dir, from, to, extra))
		}
		// OpenSSH's sftp (with its defaults unless extra says) through
		// the master connection.
		cmd := l.sftpCmd(strings.Fields(strings.ReplaceAll(extra, ",", " "))...)
		cmd.Stdin = strings.NewReader(dir + " " + from + " " + to + "\n")
		cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
		master := l.masterCPU()
		start := time.Now()
		if err := cmd.Run(); err != nil {
			die("sftp %s: %v", dir, err)
		}
		d := time.Since(start)
		if *verbose {
			own := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			master = l.masterCPU() - master
			fmt.Fprintf(os.Stderr, "         client CPU %.2f s (sftp %.2f, master %.2f)\n", (own + master).Seconds(), own.Seconds(), master.Seconds())
		}
		if fi, err := os.Stat(to); err != nil || fi.Size() != size {
			die("sftp %s: %v", dir, cmp.Or(err, fmt.Errorf("%d bytes, not %d", fi.Size(), size)))
		}
		return d
	}
	line := "cat >/dev/null"
	if dir == "download" {
		line = "head -c " + n + " /dev/zero"
	}
	cmd := l.sshCmd(line, "-o", "ControlMaster=no")
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := transfer(cmd, dir, size); err != nil {
		die("ssh %s: %v", dir, err)
	}
	return time.Since(start)
}

// sshCmd is ssh with options opts through l's relay, with l's ControlPath,
// running line (none if empty).
func (l *link) sshCmd(line string, opts ...string) *exec.Cmd {
	args := slices.Concat([]string{"-F", "/dev/null", "-T", "-c", cipher, "-p", l.port, "-i", l.key,
		"-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
		"-o", "UserKnownHostsFile=" + l.knownHosts, "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "ControlPath=" + l.control}, opts, []string{l.srv.User + "@127.0.0.1"})
	if line != "" {
		args = append(args, line)
	}
	return exec.Command(l.ssh, args...)
}

// startMaster starts an ssh master connection with its control socket in
// the bench's directory under name, warms it with an untimed download and
// upload of size bytes, makes it l's, and returns what stops it. Each table has a
// master of its own, so that neither table's figures depend on the other:
// OpenSSH's sftp got through the master the first table had used (for
// GiBs of ssh transfers) at 348-474 MB/s on loopback, against 226-440
// through a new one used only for SFTP.
func (l *link) startMaster(name string, size int64) (stop func()) {
	l.control = filepath.Join(l.dir, name)
	master := l.sshCmd("", "-f", "-N", "-o", "ControlMaster=yes", "-o", "ControlPersist=yes")
	master.Stderr = os.Stderr
	if err := master.Run(); err != nil {
		die("ssh master: %v", err)
	}
	// Warm it, each way: OpenSSH's first transfers through a new master
	// run slow (32 MiB downloads at 42, 151, 177, 193 MB/s in turn; puts
	// through sftp at 37, then about 200). A command that moves nothing
	// does not warm it, and a download does not warm the uploads.
	if err := cmp.Or(transfer(l.sshCmd("head -c "+strconv.FormatInt(size, 10)+" /dev/zero"), "download", size),
		transfer(l.sshCmd("cat >/dev/null"), "upload", size)); err != nil {
		die("warming the ssh master: %v", err)
	}
	this := *l // l.control changes with the next master
	return func() { this.sshCmd("", "-O", "exit").Run() }
}

// sftpCmd is OpenSSH's sftp through l's master connection, reading its
// commands from stdin.
func (l *link) sftpCmd(opts ...string) *exec.Cmd {
	sftp := filepath.Join(filepath.Dir(l.ssh), "sftp")
	args := slices.Concat([]string{"-F", "/dev/null", "-c", cipher, "-P", l.port, "-i", l.key,
		"-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
		"-o", "UserKnownHostsFile=" + l.knownHosts, "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "ControlPath=" + l.control, "-o", "ControlMaster=no", "-b", "-"}, opts, []string{l.srv.User + "@127.0.0.1"})
	return exec.Command(sftp, args...)
}

// sftpClient is the gosftp implementation, in a process of its own:
// sftp-client ADDR USER KEY KNOWNHOSTS get|put FROM TO [packet=N,conc=N].
// It prints the nanoseconds the transfer took (sftp.Download or
// sftp.Upload, after the subsystem started).
func sftpClient(args []string) {
	ctx := context.Background()
	s, err := libssh.Dial(ctx, args[0], libssh.WithUser(args[1]), libssh.WithKnownHosts(args[3]),
		libssh.WithAuth(libssh.AuthOptions{PrivateKeyFiles: []string{args[2]}}), libssh.WithCiphers(cipher))
	if err != nil {
		die("%v", err)
	}
	defer s.Close()
	var opts []sftp.Option
	if len(args) > 7 && args[7] != "" {
		for _, kv := range strings.Split(args[7], ",") {
			k, v, _ := strings.Cut(kv, "=")
			n, err := strconv.Atoi(v)
			if err != nil {
				die("sftp-client option %q", kv)
			}
			switch k {
			case "packet":
				opts = append(opts, sftp.WithPacketSize(n))
			case "conc":
				opts = append(opts, sftp.WithConcurrency(n))
			default:
				die("sftp-client option %q", kv)
			}
		}
	}
	c, err := sftp.NewClient(ctx, s, opts...)
	if err != nil {
		die("%v", err)
	}
	defer c.Close()
	start := time.Now()
	if args[4] == "get" {
		err = sftp.Download(ctx, c, args[5], args[6])
	} else {
		err = sftp.Upload(ctx, c, args[5], args[6])
	}
	if err != nil {
		die("gosftp %s: %v", args[4], err)
	}
	fmt.Println(time.Since(start).Nanoseconds())
}

// timeOutput runs cmd, which prints the nanoseconds its work took.
func timeOutput(cmd *exec.Cmd) time.Duration {
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		die("%s: %v", cmd.Args[0], err)
	}
	if *verbose {
		ps := cmd.ProcessState
		fmt.Fprintf(os.Stderr, "         client CPU %.2f s (user %.2f)\n", (ps.UserTime() + ps.SystemTime()).Seconds(), ps.UserTime().Seconds())
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		die("%s printed %q", cmd.Args[0], out)
	}
	return time.Duration(ns)
}

// command is an exec.Cmd or a libssh.Cmd.
type command interface {
	StdinPipe() (io.WriteCloser, error)
	StdoutPipe() (io.ReadCloser, error)
	Start() error
	Wait() error
}

// transfer starts cmd and, through its pipes, reads its output to EOF
// (download) or writes size bytes to it and closes (upload), 256 KiB at a
// time, then waits for it.
func transfer(cmd command, dir string, size int64) error {
	var in io.WriteCloser
	var out io.ReadCloser
	var err error
	if dir == "download" {
		out, err = cmd.StdoutPipe()
	} else {
		in, err = cmd.StdinPipe()
	}
	if err = cmp.Or(err, cmd.Start()); err != nil {
		return err
	}
	buf := make([]byte, 256<<10)
	var n int64
	if dir == "download" {
		n, err = io.CopyBuffer(struct{ io.Writer }{io.Discard}, struct{ io.Reader }{out}, buf)
	} else {
		for n < size && err == nil {
			var k int
			k, err = in.Write(buf[:min(int64(len(buf)), size-n)])
			n += int64(k)
		}
		err = cmp.Or(err, in.Close())
	}
	if err = cmp.Or(err, cmd.Wait()); err == nil && n != size {
		err = fmt.Errorf("%d bytes moved, not %d", n, size)
	}
	return err
}

// goClient is the go implementation, in a process of its own:
// go-client ADDR USER KEY KNOWNHOSTS DIRECTION SIZE [CHANNELS] (DIRECTION
// "many": CHANNELS downloads of SIZE at once). It prints the
// nanoseconds the transfer took.
func goClient(args []string) {
	ctx := context.Background()
	size, err := strconv.ParseInt(args[5], 10, 64)
	if err != nil {
		die("%v", err)
	}
	s, err := libssh.Dial(ctx, args[0], libssh.WithUser(args[1]), libssh.WithKnownHosts(args[3]),
		libssh.WithAuth(libssh.AuthOptions{PrivateKeyFiles: []string{args[2]}}), libssh.WithCiphers(cipher))
	if err != nil {
		die("%v", err)
	}
	defer s.Close()
	if args[4] == "many" {
		channels, err := strconv.Atoi(args[6])
		if err != nil {
			die("%v", err)
		}
		line := fmt.Sprintf("head -c %d /dev/zero", size)
		errs := make(chan error, channels)
		start := time.Now()
		for range channels {
			go func() { errs <- transfer(s.CommandLine(line), "download", size) }()
		}
		for range channels {
			if err := <-errs; err != nil {
				die("go many: %v", err)
			}
		}
		fmt.Println(time.Since(start).Nanoseconds())
		return
	}
	line := "cat >/dev/null"
	if args[4] == "download" {
		line = fmt.Sprintf("head -c %d /dev/zero", size)
	}
	cmd := s.CommandLine(line)
	start := time.Now()
	if err := transfer(cmd, args[4], size); err != nil {
		die("go %s: %v", args[4], err)
	}
	fmt.Println(time.Since(start).Nanoseconds())
}

// tcp times a plain TCP transfer of size bytes through addr to the sink,
// which sends them (download) or reads them (upload).
func (b *bench) tcp(addr, dir string, size int64) time.Duration {
	up := dir == "upload"
	b.size <- map[bool]int64{false: size, true: -size}[up]
	start := time.Now()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		die("%v", err)
	}
	defer c.Close()
	n, err := stream(c, up, size)
	if up && err == nil { // the sink closes once it has all
		if _, err = c.Read(make([]byte, 1)); err == io.EOF {
			err = nil
		}
	}
	if n != size || err != nil {
		die("tcp %s: %d bytes, %v", dir, n, err)
	}
	return time.Since(start)
}

// serveSink sends size bytes on each connection, or reads -size, as b.size
// says, then closes it.
func (b *bench) serveSink() {
	for {
		c, err := b.sink.Accept()
		if err != nil {
			return
		}
		size := <-b.size
		stream(c, size > 0, max(size, -size))
		c.Close()
	}
}

// stream sends size bytes to c, 256 KiB at a time, and half-closes it, or
// reads c to EOF.
func stream(c net.Conn, send bool, size int64) (int64, error) {
	buf := make([]byte, 256<<10)
	if !send {
		return io.CopyBuffer(io.Discard, struct{ io.Reader }{c}, buf)
	}
	var n int64
	for n < size {
		k, err := c.Write(buf[:min(int64(len(buf)), size-n)])
		if n += int64(k); err != nil {
			return n, err
		}
	}
	return n, c.(*net.TCPConn).CloseWrite()
}

// cleanup removes what the run made (sshd and its files) when it fails.
var cleanup = func() {}

func die(format string, args ...any) {
	cleanup()
	log.Fatalf(format, args...)
}

func mbps(size int64, d time.Duration) float64 { return float64(size) / d.Seconds() / 1e6 }

func median(v []float64) float64 {
	v = slices.Sorted(slices.Values(v))
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func split[T any](s string, parse func(string) (T, error)) []T {
	var out []T
	for _, f := range strings.Split(s, ",") {
		v, err := parse(strings.TrimSpace(f))
		if err != nil {
			die("%v", err)
		}
		out = append(out, v)
	}
	return out
}

func parseDuration(s string) (time.Duration, error) {
	if s == "0" {
		return 0, nil
	}
	return time.ParseDuration(s)
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	if i := strings.IndexAny(s, "KMG"); i > 0 && i == len(s)-1 {
		mult = 1 << (10 * (strings.Index("KMG", s[i:]) + 1))
		s = s[:i]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, errors.Join(errors.New("bad size "+s), err)
	}
	return n * mult, nil
}

// masterCPU is the CPU time l's ssh master has used.
func (l *link) masterCPU() time.Duration {
	out, _ := l.sshCmd("", "-O", "check").CombinedOutput()
	_, pid, _ := strings.Cut(string(out), "pid=")
	pid, _, _ = strings.Cut(pid, ")")
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	f := strings.Fields(rest) // from the state on: utime and stime are the 12th and 13th
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+k) * time.Second / 100
}
