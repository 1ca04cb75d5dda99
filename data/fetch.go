package data

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// HFHost is the only host the Hugging Face token is sent to.
const HFHost = "huggingface.co"

// TokenEnvVar names the environment variable holding the Hugging Face
// access token (gated and private models).
const TokenEnvVar = "HF_TOKEN"

// MaxUnknownDownload bounds a download whose size nobody announced in
// advance (the registry and the hub API give every size, so this is a
// guard against a server that streams forever).
const MaxUnknownDownload = 1 << 40

// Want is what a downloaded file must be. Size and SHA256 come from the
// registry or from the hub API; a mismatch removes the download.
type Want struct {
	// Size in bytes; -1 when unknown (MaxUnknownDownload then bounds it).
	Size int64
	// SHA256 is the lower-case hex sha256; "" checks none.
	SHA256 string
	// GitSHA1 is the git blob id (sha1 of "blob <size>\x00" + content),
	// which the hub gives for files not stored in LFS; it needs Size.
	// "" checks none.
	GitSHA1 string
	// Name is shown in progress lines; "" means the target's base name.
	Name string
}

// Fetcher downloads files over HTTPS (plain HTTP to a loopback address
// only, for tests) to a path: into PATH.part beside it, resumed with a
// Range request when a .part is left from an earlier attempt, checked
// against Want, and renamed into place. Memory stays at one buffer
// whatever the file's size. The zero value works: no token, no progress,
// no retries.
type Fetcher struct {
	// Client does the requests; nil means a client with connection and
	// response-header timeouts. Its CheckRedirect is replaced.
	Client *http.Client
	// Token is sent as "Authorization: Bearer" to TokenHost only, never
	// to another host, also not after a redirect there.
	Token string
	// TokenHost is the host[:port] the token is for; "" means HFHost.
	TokenHost string
	// Progress receives progress lines (bytes, percent, rate), at most one
	// per Every; nil means none.
	Progress io.Writer
	// Every is the interval between progress lines; 0 means 2 s.
	Every time.Duration
	// Retries is how many times a transfer that broke off (a cut
	// connection, a stall, HTTP 429 or 5xx) is resumed within one Fetch.
	Retries int
	// RetryWait is the pause before the first retry, doubled after each.
	RetryWait time.Duration
	// Idle ends an attempt that receives nothing for this long (then
	// retried); 0 means 60 s.
	Idle time.Duration
}

// NewFetcher returns a Fetcher with the Hugging Face token (HubToken),
// progress lines on progress, and 5 retries after a broken transfer.
func NewFetcher(progress io.Writer) *Fetcher {
	return &Fetcher{Token: HubToken(), Progress: progress, Retries: 5, RetryWait: time.Second}
}

// HubToken returns the Hugging Face access token as huggingface_hub finds
// it: $HF_TOKEN, else the file $HF_TOKEN_PATH, else $HF_HOME/token (by
// default ~/.cache/huggingface/token, where `huggingface-cli login`
// saves it); "" when there is none.
func HubToken() string {
	if t := strings.TrimSpace(os.Getenv(TokenEnvVar)); t != "" {
		return t
	}
	p := expandHome(os.Getenv("HF_TOKEN_PATH"))
	if p == "" {
		home := expandHome(os.Getenv("HF_HOME"))
		if home == "" {
			if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
				home = filepath.Join(x, "huggingface")
			} else if h, err := os.UserHomeDir(); err == nil && h != "" {
				home = filepath.Join(h, ".cache", "huggingface")
			}
		}
		if home == "" {
			return ""
		}
		p = filepath.Join(home, "token")
	}
	if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
		return ""
	}
	b, err := readSmall(p, 4096)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// StatusError is an HTTP response that is not the file.
type StatusError struct {
	URL  string
	Code int
	// Status is the status line's text ("404 Not Found").
	Status string
	// HubCode and HubMessage are the hub's X-Error-Code (GatedRepo,
	// RepoNotFound, RevisionNotFound, EntryNotFound) and X-Error-Message,
	// cut to one short line; "" from other servers.
	HubCode, HubMessage string
}

// statusError describes resp, a response that is not the file.
func statusError(where string, resp *http.Response) *StatusError {
	clean := func(s string, n int) string {
		s = strings.Map(func(r rune) rune {
			if r < ' ' || r == 0x7f {
				return ' '
			}
			return r
		}, s)
		return truncate(strings.TrimSpace(s), n)
	}
	return &StatusError{URL: where, Code: resp.StatusCode, Status: resp.Status,
		HubCode: clean(resp.Header.Get("X-Error-Code"), 40), HubMessage: clean(resp.Header.Get("X-Error-Message"), 200)}
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("GET %s: HTTP %s", e.URL, e.Status)
	if e.HubMessage != "" {
		msg += " (" + e.HubMessage + ")"
	}
	switch e.Code {
	case http.StatusUnauthorized, http.StatusForbidden:
		msg += " (access refused: a gated or private file needs " + TokenEnvVar + " set to an access token of an account that accepted its licence)"
	case http.StatusNotFound:
		msg += " (no such file at this URL)"
	}
	return msg
}

// ErrUnreachable matches (errors.Is) a download that failed for want of
// a working connection or server (a cut or stalled transfer, a network
// error, HTTP 429 or 5xx), after its retries: trying later may work.
var ErrUnreachable = errors.New("server unreachable")

// errTransient marks a failed attempt that a retry may get past; final
// ones (the host name does not resolve) match ErrUnreachable but are not
// retried.
type errTransient struct {
	err   error
	final bool
}

func (e *errTransient) Error() string        { return e.err.Error() }
func (e *errTransient) Unwrap() error        { return e.err }
func (e *errTransient) Is(target error) bool { return target == ErrUnreachable }

// checkURL allows https, and http to loopback addresses only.
func checkURL(u *url.URL) error {
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return fmt.Errorf("%s: plain http is refused (https only, except to a loopback address)", u.Redacted())
		}
	default:
		return fmt.Errorf("%s: scheme %q refused (https only)", u.Redacted(), u.Scheme)
	}
	if u.Host == "" {
		return fmt.Errorf("%s: no host", u.Redacted())
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (f *Fetcher) tokenHost() string {
	if f.TokenHost != "" {
		return f.TokenHost
	}
	return HFHost
}

// tokenFor tells whether the token goes with a request to u.
func (f *Fetcher) tokenFor(u *url.URL) bool {
	return f.Token != "" && u.Host == f.tokenHost() && (u.Scheme == "https" || isLoopback(u.Hostname()))
}

// defaultTransport is shared by the Fetchers without a Client, so that
// their connections are reused: the default one with a time limit on the
// response header.
var defaultTransport = sync.OnceValue(func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = 60 * time.Second
	return t
})

func (f *Fetcher) client() *http.Client {
	var c http.Client
	if f.Client != nil {
		c = *f.Client
	} else {
		c.Transport = defaultTransport()
	}
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return &redirectError{errors.New("stopped after 10 redirects")}
		}
		if err := checkURL(req.URL); err != nil {
			return &redirectError{fmt.Errorf("redirect refused: %w", err)}
		}
		if !f.tokenFor(req.URL) {
			req.Header.Del("Authorization")
		}
		return nil
	}
	return &c
}

// urlErrorCause drops the *url.Error wrapper, whose message repeats the
// URL the caller's message already names.
func urlErrorCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// netError marks msg, the message of the request error err, as transient:
// final when the host name does not resolve (no network, or a typo), where
// retrying only delays the error.
func netError(msg, err error) *errTransient {
	var dns *net.DNSError
	return &errTransient{err: msg, final: errors.As(err, &dns) && dns.IsNotFound}
}

// redirectError is a redirect the Fetcher does not follow.
type redirectError struct{ err error }

func (e *redirectError) Error() string { return e.err.Error() }
func (e *redirectError) Unwrap() error { return e.err }

// get issues a GET for u with the token when u is on the token host, and
// the Range header when from > 0.
func (f *Fetcher) get(ctx context.Context, c *http.Client, u *url.URL, from int64) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "prunebench")
	if f.tokenFor(u) {
		req.Header.Set("Authorization", "Bearer "+f.Token)
	}
	if from > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(from, 10)+"-")
	}
	return c.Do(req)
}

// fetchState is what survives between the attempts of one Fetch: the
// hashes of the first n bytes of the .part file.
type fetchState struct {
	n       int64
	sha256  hash.Hash
	gitSHA1 hash.Hash
}

func (s *fetchState) reset(want Want) {
	s.n = 0
	s.sha256 = sha256.New()
	s.gitSHA1 = nil
	if want.GitSHA1 != "" && want.Size >= 0 {
		s.gitSHA1 = sha1.New()
		fmt.Fprintf(s.gitSHA1, "blob %d\x00", want.Size)
	}
}

func (s *fetchState) write(p []byte) {
	s.sha256.Write(p)
	if s.gitSHA1 != nil {
		s.gitSHA1.Write(p)
	}
	s.n += int64(len(p))
}

// Fetch downloads rawURL to target (see Fetcher). A .part file left by an
// interrupted Fetch is resumed with a Range request; a server that answers
// 200 instead of 206 sends the whole file again, which replaces it. The
// download is refused and the .part removed when the size or a checksum
// differs from want or when the server sends more than want.Size; it is
// kept, for the next Fetch to resume, when the transfer breaks off or ctx
// is cancelled. Errors name the URL and what was expected.
func (f *Fetcher) Fetch(ctx context.Context, rawURL, target string, want Want) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("fetch %q: %w", rawURL, err)
	}
	if err := checkURL(u); err != nil {
		return fmt.Errorf("fetch %w", err)
	}
	if want.Name == "" {
		want.Name = filepath.Base(target)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o777); err != nil {
		return fmt.Errorf("fetch %s: %w", u.Redacted(), err)
	}
	part := target + ".part"
	st, err := os.Stat(part)
	resumed := err == nil && st.Size() > 0
	err = f.fetch(ctx, u, part, target, want)
	var ce *checksumError
	if resumed && errors.As(err, &ce) {
		// What an earlier run left was not the start of this file.
		if f.Progress != nil {
			fmt.Fprintf(f.Progress, "fetch %s: %v; starting again without the earlier partial download\n", want.Name, err)
		}
		err = f.fetch(ctx, u, part, target, want)
	}
	return err
}

// kept says what a failed download leaves for the next one to resume.
func kept(n int64, part string) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d bytes kept in %s: the same command resumes)", n, part)
}

// checksumError is a complete download with the wrong size or checksum.
type checksumError struct{ msg string }

func (e *checksumError) Error() string { return e.msg }

// fetch is Fetch after the checks of its arguments: the attempts, then
// the checks of what they got, then the rename.
func (f *Fetcher) fetch(ctx context.Context, u *url.URL, part, target string, want Want) error {
	c := f.client()
	var st fetchState
	st.reset(want)
	hashed := false // st describes the .part file
	wait := f.RetryWait
	for attempt := 0; ; attempt++ {
		err := f.attempt(ctx, c, u, part, want, &st, &hashed)
		if err == nil {
			break
		}
		var tr *errTransient
		if !errors.As(err, &tr) || ctx.Err() != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("fetch %s: %w%s", u.Redacted(), context.Cause(ctx), kept(st.n, part))
			}
			return err
		}
		if attempt >= f.Retries || tr.final {
			return fmt.Errorf("%w%s", err, kept(st.n, part))
		}
		if f.Progress != nil {
			fmt.Fprintf(f.Progress, "fetch %s: %v; retrying from byte %d (%d of %d)\n", want.Name, err, st.n, attempt+1, f.Retries)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("fetch %s: %w%s", u.Redacted(), context.Cause(ctx), kept(st.n, part))
		case <-time.After(wait):
		}
		wait *= 2
	}
	// Complete: check it, then put it in place.
	if want.Size >= 0 && st.n != want.Size {
		os.Remove(part)
		return &checksumError{fmt.Sprintf("fetch %s: %d bytes, expected %d; removed the download", u.Redacted(), st.n, want.Size)}
	}
	if want.SHA256 != "" {
		if got := hex.EncodeToString(st.sha256.Sum(nil)); got != want.SHA256 {
			os.Remove(part)
			return &checksumError{fmt.Sprintf("fetch %s: sha256 %s, expected %s; removed the download", u.Redacted(), got, want.SHA256)}
		}
	}
	if st.gitSHA1 != nil {
		if got := hex.EncodeToString(st.gitSHA1.Sum(nil)); got != want.GitSHA1 {
			os.Remove(part)
			return &checksumError{fmt.Sprintf("fetch %s: git blob id %s, expected %s; removed the download", u.Redacted(), got, want.GitSHA1)}
		}
	}
	if err := os.Rename(part, target); err != nil {
		return fmt.Errorf("fetch %s: %w", u.Redacted(), err)
	}
	syncDir(filepath.Dir(target))
	return nil
}

// attempt makes one request and appends what it receives to part. It
// returns nil when part holds the whole file (as far as the response or
// want.Size tell), an *errTransient when another attempt may finish it.
func (f *Fetcher) attempt(ctx context.Context, c *http.Client, u *url.URL, part string, want Want, st *fetchState, hashed *bool) (err error) {
	where := u.Redacted()
	fail := func(format string, a ...any) error {
		return fmt.Errorf("fetch %s: %s", where, fmt.Sprintf(format, a...))
	}
	if li, err := os.Lstat(part); err == nil && !li.Mode().IsRegular() {
		// Never write through a link or into a device or FIFO.
		return fail("%s exists and is not a regular file (%s)", part, li.Mode().Type())
	}
	file, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return fail("%v", err)
	}
	defer func() {
		if cerr := file.Close(); cerr != nil && err == nil {
			err = fail("%v", cerr)
		}
		if err != nil && st.n == 0 {
			os.Remove(part) // nothing worth keeping
		}
	}()
	info, err := file.Stat()
	if err != nil {
		return fail("%v", err)
	}
	if !info.Mode().IsRegular() {
		return fail("%s is not a regular file", part)
	}
	size := info.Size()
	if want.Size >= 0 && size > want.Size {
		size = 0 // longer than the file: not a prefix of it
	}
	if !*hashed || st.n != size {
		// Hash what an earlier run left, to continue from there.
		st.reset(want)
		if size > 64<<20 && f.Progress != nil {
			fmt.Fprintf(f.Progress, "fetch %s: hashing the %s an earlier run left in %s, to resume after them\n", want.Name, mib(size), part)
		}
		if size > 0 {
			if err := hashPrefix(file, size, st); err != nil {
				return fail("reading %s: %v", part, err)
			}
		}
		*hashed = true
	}
	if err := file.Truncate(st.n); err != nil {
		return fail("%v", err)
	}
	if want.Size >= 0 && st.n == want.Size {
		return nil // an earlier run got every byte; the checks decide
	}
	if _, err := file.Seek(st.n, io.SeekStart); err != nil {
		return fail("%v", err)
	}

	idle := f.Idle
	if idle <= 0 {
		idle = 60 * time.Second
	}
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	errIdle := fmt.Errorf("no data for %v", idle)
	watchdog := time.AfterFunc(idle, func() { cancel(errIdle) })
	defer watchdog.Stop()

	resp, err := f.get(actx, c, u, st.n)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if context.Cause(actx) == errIdle {
			err = errIdle
		}
		var re *redirectError
		if errors.As(err, &re) {
			return fail("%v", re.err)
		}
		return netError(fail("%v", urlErrorCause(err)), err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusPartialContent:
		if st.n == 0 {
			return fail("HTTP 206 to a request without a range")
		}
		start, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != st.n {
			return fail("asked for bytes from %d, got Content-Range %q", st.n, truncate(resp.Header.Get("Content-Range"), 100))
		}
		if want.Size >= 0 && total >= 0 && total != want.Size {
			os.Remove(part)
			return fail("the server's file has %d bytes, expected %d; removed the partial download", total, want.Size)
		}
	case http.StatusOK:
		if st.n > 0 {
			// The server ignored the range: it sends the whole file.
			if f.Progress != nil {
				fmt.Fprintf(f.Progress, "fetch %s: the server ignored the range request; starting again from byte 0\n", want.Name)
			}
			st.reset(want)
			if err := file.Truncate(0); err != nil {
				return fail("%v", err)
			}
			if _, err := file.Seek(0, io.SeekStart); err != nil {
				return fail("%v", err)
			}
		}
	case http.StatusRequestedRangeNotSatisfiable:
		// The .part is not a prefix of this file: start again.
		from := st.n
		st.reset(want)
		if err := file.Truncate(0); err != nil {
			return fail("%v", err)
		}
		return &errTransient{err: fail("HTTP %s for bytes from %d; starting again", resp.Status, from)}
	default:
		se := statusError(where, resp)
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
			return &errTransient{err: se}
		}
		return se
	}
	limit := want.Size
	if limit < 0 {
		limit = MaxUnknownDownload
	}
	if cl := resp.ContentLength; cl >= 0 && st.n+cl > limit || want.Size >= 0 && cl >= 0 && st.n+cl != want.Size {
		from := st.n
		os.Remove(part)
		st.reset(want)
		return fail("the server announces %d bytes from byte %d, expected %d in all; removed the download", cl, from, limit)
	}
	pr := newProgress(f.Progress, f.Every, want.Name, want.Size, st.n)
	buf := make([]byte, 1<<20)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			watchdog.Reset(idle)
			if st.n+int64(n) > limit {
				os.Remove(part)
				st.reset(want)
				if want.Size >= 0 {
					return fail("the server sent more than the expected %d bytes; removed the download", want.Size)
				}
				return fail("more than %d bytes; removed the download", limit)
			}
			if _, err := file.Write(buf[:n]); err != nil {
				return fail("writing %s: %v", part, err)
			}
			st.write(buf[:n])
			pr.update(st.n)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if context.Cause(actx) == errIdle {
				rerr = errIdle
			}
			return &errTransient{err: fail("connection broke after %d bytes: %v", st.n, rerr)}
		}
	}
	if err := file.Sync(); err != nil {
		return fail("syncing %s: %v", part, err)
	}
	if want.Size >= 0 && st.n < want.Size {
		// A clean end (a cut connection is an unexpected EOF, above):
		// the server's file is shorter.
		n := st.n
		os.Remove(part)
		st.reset(want)
		return fail("the server's file ends after %d bytes, expected %d; removed the download", n, want.Size)
	}
	pr.done(st.n)
	return nil
}

// hashPrefix feeds the first n bytes of file to st.
func hashPrefix(file *os.File, n int64, st *fetchState) error {
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	for st.n < n {
		k, err := io.ReadFull(file, buf[:min(int64(len(buf)), n-st.n)])
		st.write(buf[:k])
		if err != nil {
			return err
		}
	}
	return nil
}

// parseContentRange parses "bytes START-END/TOTAL" (TOTAL may be "*",
// returned as -1).
func parseContentRange(s string) (start, total int64, ok bool) {
	rest, found := strings.CutPrefix(s, "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, tot, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	a, b, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, false
	}
	total = -1
	if tot != "*" {
		t, err := strconv.ParseInt(tot, 10, 64)
		if err != nil || t <= end {
			return 0, 0, false
		}
		total = t
	}
	return start, total, true
}

// syncDir makes a rename in dir durable; errors are ignored (not every
// file system syncs directories).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// progress prints throttled progress lines for one transfer.
type progress struct {
	w           io.Writer
	every       time.Duration
	name        string
	total       int64
	from        int64 // bytes present when the transfer started
	start, last time.Time
}

func newProgress(w io.Writer, every time.Duration, name string, total, from int64) *progress {
	if every <= 0 {
		every = 2 * time.Second
	}
	now := time.Now()
	return &progress{w: w, every: every, name: name, total: total, from: from, start: now, last: now}
}

func (p *progress) update(n int64) {
	if p.w == nil {
		return
	}
	now := time.Now()
	if now.Sub(p.last) < p.every {
		return
	}
	p.last = now
	p.line(n, now, false)
}

func (p *progress) done(n int64) {
	if p.w != nil {
		p.line(n, time.Now(), true)
	}
}

func (p *progress) line(n int64, now time.Time, done bool) {
	secs := now.Sub(p.start).Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(n-p.from) / secs
	}
	var b strings.Builder
	fmt.Fprintf(&b, "fetch %s: %s", p.name, mib(n))
	if p.total > 0 {
		fmt.Fprintf(&b, " of %s (%.0f%%)", mib(p.total), 100*float64(n)/float64(p.total))
	}
	fmt.Fprintf(&b, ", %s/s", mib(int64(rate)))
	if done {
		fmt.Fprintf(&b, ", done in %.1f s", secs)
	}
	fmt.Fprintln(p.w, b.String())
}

func mib(n int64) string {
	switch {
	case n >= 1<<40:
		return fmt.Sprintf("%.2f TiB", float64(n)/(1<<40))
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
