package libssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// AuthenticateCLI logs in the way the ssh command does for a person at a
// terminal, reading answers from in and writing prompts to out:
//
//   - an unknown host's key fingerprint is shown and the user asked whether to
//     trust it; "yes" (or the fingerprint) adds it to known_hosts, anything
//     else stops with the host verification error and leaves the file alone;
//   - a changed key is refused with OpenSSH's warning;
//   - then GSSAPI, the SSH agent and the default identity files are tried,
//     keyboard-interactive questions are shown and answered (the name and
//     instruction of a round are shown first, also for a round without
//     questions, such as a password-expiry notice), and a password is asked
//     for (up to three times).
//
// Secrets are read without echo when in is a terminal. in and out must not
// be nil, nor ctx.
func (s *Session) AuthenticateCLI(ctx context.Context, in io.Reader, out io.Writer) error {
	switch err := sessionArgErr(s); {
	case err != nil:
		return err
	case ctx == nil:
		return errNilContext("AuthenticateCLI")
	case in == nil:
		return errors.New("libssh: AuthenticateCLI with a nil reader: the answers come from in")
	case out == nil:
		return errors.New("libssh: AuthenticateCLI with a nil writer: the prompts go to out")
	}
	p := &prompter{in: in, out: out}
	if err := s.confirmHost(ctx, p); err != nil {
		return err
	}
	opts := AuthOptions{GSSAPI: true, Agent: true, DefaultKeys: true, Kbdint: p.kbdint}
	const tries = 3 // answers a person may get wrong, as ssh's NumberOfPasswordPrompts
	for {
		res, err := s.Authenticate(ctx, opts)
		var unfinished *NotAuthenticatedError
		if !errors.As(err, &unfinished) {
			return err // nil: authenticated
		}
		offered := res.Needed | res.Denied
		human := offered & (AuthMethodPassword | AuthMethodInteractive)
		if human == 0 || p.asked >= tries {
			return &Error{Op: "authenticate", Code: ErrorCodeRequestDenied,
				Message: "permission denied (" + strings.ReplaceAll(offered.String(), "|", ",") + ")"}
		}
		if p.asked > 0 {
			p.printf("Permission denied, please try again.\n")
		}
		// From now on, only what a person answers is retried.
		opts = AuthOptions{Kbdint: p.kbdint}
		if human == AuthMethodPassword {
			p.asked++
			pw, err := p.secret(fmt.Sprintf("%s@%s's password: ", s.User(), s.Host()))
			if err != nil {
				return err
			}
			opts = AuthOptions{Password: pw}
		}
	}
}

// confirmHost checks the host key and, for an unknown host, asks the user.
func (s *Session) confirmHost(ctx context.Context, p *prompter) error {
	err := s.verifyHost(ctx)
	var hv *HostVerificationError
	if !errors.As(err, &hv) {
		return err
	}
	key, kerr := s.ServerPublicKey()
	if kerr != nil {
		return kerr
	}
	name := hostPort(hv.Host, hv.Port)
	kind := keyKind(key.Type())
	switch hv.Status {
	case KnownHostsChanged:
		p.printf("@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n" +
			"@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n" +
			"@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n" +
			"IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\n" +
			"Someone could be eavesdropping on you right now (man-in-the-middle attack)!\n" +
			"It is also possible that a host key has just been changed.\n")
		p.printf("The fingerprint for the %s key sent by the remote host is\n%s.\n", kind, key.Fingerprint())
		p.printf("Please contact your system administrator.\n")
		p.printf("Add correct host key in %s to get rid of this message.\n", s.KnownHostsPath())
		p.printf("Host key for %s has changed and you have requested strict checking.\n", name)
		p.printf("Host key verification failed.\n")
		return err
	case KnownHostsUnknown, KnownHostsNotFound, KnownHostsOther:
		p.printf("The authenticity of host '%s' can't be established.\n", name)
		if hv.Status == KnownHostsOther {
			p.printf("but keys of different type are already known for this host.\n")
		}
		p.printf("%s key fingerprint is %s.\n", kind, key.Fingerprint())
		if hv.Status == KnownHostsNotFound {
			p.printf("This will create the known_hosts file %s.\n", s.KnownHostsPath())
		}
		question := "Are you sure you want to continue connecting (yes/no/[fingerprint])? "
		for {
			answer, rerr := p.line(question)
			if rerr != nil {
				return errors.Join(err, rerr)
			}
			switch strings.TrimSpace(answer) {
			case "yes", key.Fingerprint():
				if uerr := s.UpdateKnownHosts(); uerr != nil {
					return uerr
				}
				p.printf("Warning: Permanently added '%s' (%s) to the list of known hosts.\n", name, kind)
				return nil
			case "no":
				p.printf("Host key verification failed.\n")
				return err
			}
			question = "Please type 'yes', 'no' or the fingerprint: "
		}
	}
	return err
}

// keyKind names a key type the way ssh's messages do ("ED25519").
func keyKind(typ string) string {
	switch {
	case strings.Contains(typ, "ed25519"):
		return "ED25519"
	case strings.HasPrefix(typ, "ecdsa"):
		return "ECDSA"
	case strings.Contains(typ, "rsa"):
		return "RSA"
	}
	return strings.ToUpper(typ)
}

// prompter talks to the person: prompts on out, answers from in. It reads
// byte by byte, so that nothing it does not use is taken from in.
type prompter struct {
	in    io.Reader
	out   io.Writer
	asked int // passwords and keyboard-interactive rounds asked so far
}

func (p *prompter) printf(format string, args ...any) { fmt.Fprintf(p.out, format, args...) }

// line shows prompt and reads one line, echoed.
func (p *prompter) line(prompt string) (string, error) {
	p.printf("%s", prompt)
	var b strings.Builder
	buf := make([]byte, 1)
	for {
		n, err := p.in.Read(buf)
		if n == 1 {
			if buf[0] == '\n' {
				return strings.TrimSuffix(b.String(), "\r"), nil
			}
			b.WriteByte(buf[0])
		}
		if err == io.EOF && b.Len() > 0 {
			return b.String(), nil
		}
		if err != nil {
			return "", fmt.Errorf("libssh: read answer: %w", err)
		}
	}
}

// secret shows prompt and reads one line without echo when in is a
// terminal. Echo goes off before the prompt is shown, as in OpenSSH, so that
// nothing typed after the prompt appears is echoed.
func (p *prompter) secret(prompt string) (string, error) {
	f, ok := p.in.(*os.File)
	if !ok {
		return p.line(prompt)
	}
	fd := int(f.Fd())
	saved, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil { // not a terminal
		return p.line(prompt)
	}
	quiet := *saved
	quiet.Lflag &^= unix.ECHO
	quiet.Lflag |= unix.ICANON | unix.ISIG
	quiet.Iflag |= unix.ICRNL
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return "", fmt.Errorf("libssh: turn terminal echo off: %w", err)
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, saved)
	answer, err := p.line(prompt)
	p.printf("\n") // the newline the user typed was not echoed either
	return answer, err
}

// kbdint shows a keyboard-interactive round and reads its answers. A round
// without questions is a notice: it is shown, as ssh shows it, and is not
// one of the tries.
func (p *prompter) kbdint(r KbdintRound) ([]string, error) {
	if len(r.Prompts) > 0 {
		p.asked++
	}
	if r.Name != "" {
		p.printf("%s\n", r.Name)
	}
	if r.Instruction != "" {
		p.printf("%s\n", r.Instruction)
	}
	answers := make([]string, len(r.Prompts))
	for i, q := range r.Prompts {
		read := p.secret
		if q.Display {
			read = p.line
		}
		a, err := read(q.Msg)
		if err != nil {
			return nil, err
		}
		answers[i] = a
	}
	return answers, nil
}
