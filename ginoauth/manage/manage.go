// Package manage holds the provider's management commands, DOT's
// createapplication and Django's createuser, for any program to mount on
// its own command line, as the demo does:
//
//	cli := &manage.CLI{Open: openProvider, Flags: addRedisFlag}
//	if err := cli.Run(ctx, os.Args[1:]); err != nil { ... }
package manage

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/ginoauth/toolkit/ginoauth"
	"github.com/ginoauth/toolkit/ginoauth/store"
)

// ErrUsage is returned (wrapped, with the message already printed) when a
// command's arguments are wrong; programs exit with status 2 on it.
var ErrUsage = errors.New("usage error")

// CLI runs management commands against the provider Open returns.
type CLI struct {
	// Open builds the provider a command acts on. It is called after the
	// command's flags are parsed, so it may read flags added by Flags.
	Open func(ctx context.Context) (*ginoauth.Provider, error)
	// Flags, if set, adds the program's own flags (such as --redis) to
	// every command's flag set.
	Flags func(fs *flag.FlagSet)
	// Stdout and Stderr default to os.Stdout and os.Stderr.
	Stdout, Stderr io.Writer
}

// Command describes one management command.
type Command struct {
	Name    string
	Summary string
	run     func(*CLI, context.Context, []string) error
}

// Commands lists the commands Run knows.
func (cli *CLI) Commands() []Command {
	return []Command{
		{"createapplication", "register an OAuth2 application (client) and print its credentials", (*CLI).createApplication},
		{"createuser", "create a user who can log in and grant access", (*CLI).createUser},
	}
}

// Run runs the command args[0] with the arguments after it. Flags and
// positional arguments may come in any order.
func (cli *CLI) Run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		cli.usage()
		return ErrUsage
	}
	for _, c := range cli.Commands() {
		if c.Name == args[0] {
			return c.run(cli, ctx, args[1:])
		}
	}
	fmt.Fprintf(cli.stderr(), "unknown command %q\n", args[0])
	cli.usage()
	return ErrUsage
}

func (cli *CLI) usage() {
	fmt.Fprintln(cli.stderr(), "commands:")
	for _, c := range cli.Commands() {
		fmt.Fprintf(cli.stderr(), "  %-18s %s\n", c.Name, c.Summary)
	}
}

func (cli *CLI) stdout() io.Writer {
	if cli.Stdout == nil {
		return os.Stdout
	}
	return cli.Stdout
}

func (cli *CLI) stderr() io.Writer {
	if cli.Stderr == nil {
		return os.Stderr
	}
	return cli.Stderr
}

// newFlagSet makes a command's flag set with the program's own flags.
func (cli *CLI) newFlagSet(name, args string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(cli.stderr())
	fs.Usage = func() {
		fmt.Fprintf(cli.stderr(), "usage: %s [flags] %s\n", name, args)
		fs.PrintDefaults()
	}
	if cli.Flags != nil {
		cli.Flags(fs)
	}
	return fs
}

// parse parses flags and positional arguments in any order.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUsage, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func (cli *CLI) open(ctx context.Context) (*ginoauth.Provider, error) {
	if cli.Open == nil {
		return nil, errors.New("manage: CLI.Open is not set")
	}
	return cli.Open(ctx)
}

func (cli *CLI) createUser(ctx context.Context, args []string) error {
	fs := cli.newFlagSet("createuser", "")
	username := fs.String("username", "", "the username (required)")
	password := fs.String("password", "", "the password (required; or env GINOAUTH_PASSWORD)")
	email := fs.String("email", "", "e-mail address")
	staff := fs.Bool("staff", false, "mark the user as staff")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *password == "" {
		*password = os.Getenv("GINOAUTH_PASSWORD")
	}
	if len(pos) > 0 || *username == "" || *password == "" {
		fmt.Fprintln(cli.stderr(), "createuser needs --username and --password, and no other arguments")
		fs.Usage()
		return ErrUsage
	}
	p, err := cli.open(ctx)
	if err != nil {
		return err
	}
	u, err := p.CreateUser(ctx, ginoauth.NewUser{Username: *username, Password: *password, Email: *email, IsStaff: *staff})
	if errors.Is(err, store.ErrDuplicate) {
		return fmt.Errorf("user %q already exists", *username)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(cli.stdout(), "User %q created (id %s).\n", u.Username, u.ID)
	return nil
}

// grantTypes maps createapplication's grant_type argument (DOT's choices)
// to grant_type values.
var grantTypes = map[string]string{
	"authorization-code": store.GrantAuthorizationCode,
	"password":           store.GrantPassword,
	"client-credentials": store.GrantClientCredentials,
}

func (cli *CLI) createApplication(ctx context.Context, args []string) error {
	const posUsage = "<confidential|public> <authorization-code|password|client-credentials>[,...]"
	fs := cli.newFlagSet("createapplication", posUsage)
	name := fs.String("name", "", "the application's name")
	redirects := fs.String("redirect-uris", "", "space-separated redirect URIs (needed by authorization-code)")
	skip := fs.Bool("skip-authorization", false, "skip the consent page for this application")
	asJSON := fs.Bool("json", false, `print one line {"client_id": ..., "client_secret": ...}`)
	clientID := fs.String("client-id", "", "use this client id instead of a generated one")
	owner := fs.String("user", "", "username of the application's owner")
	scopes := fs.String("scopes", "", "space-separated scope ceiling (default: every scope)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		fmt.Fprintf(cli.stderr(), "createapplication needs two arguments: %s\n", posUsage)
		fs.Usage()
		return ErrUsage
	}
	ct := store.ClientType(pos[0])
	if ct != store.Confidential && ct != store.Public {
		fmt.Fprintf(cli.stderr(), "client type %q: want confidential or public\n", pos[0])
		return ErrUsage
	}
	var grants []string
	for g := range strings.SplitSeq(pos[1], ",") {
		v, ok := grantTypes[g]
		if !ok {
			fmt.Fprintf(cli.stderr(), "grant type %q: want authorization-code, password or client-credentials\n", g)
			return ErrUsage
		}
		if !slices.Contains(grants, v) {
			grants = append(grants, v)
		}
	}
	allowed, err := ginoauth.ParseScope(*scopes)
	if err != nil {
		fmt.Fprintf(cli.stderr(), "--scopes %q is not a valid scope list\n", *scopes)
		return ErrUsage
	}
	p, err := cli.open(ctx)
	if err != nil {
		return err
	}
	na := ginoauth.NewApplication{
		Name: *name, ClientType: ct, GrantTypes: grants, RedirectURIs: strings.Fields(*redirects),
		SkipAuthorization: *skip, ClientID: *clientID, AllowedScopes: allowed,
	}
	if *owner != "" {
		u, err := p.Store().GetUserByUsername(ctx, *owner)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no user %q", *owner)
		}
		if err != nil {
			return err
		}
		na.UserID = u.ID
	}
	app, secret, err := p.CreateApplication(ctx, na)
	if errors.Is(err, store.ErrDuplicate) {
		return fmt.Errorf("an application with client id %q already exists", *clientID)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(cli.stdout()).Encode(map[string]string{"client_id": app.ClientID, "client_secret": secret})
	}
	out := cli.stdout()
	fmt.Fprintf(out, "New application %q created.\n", app.Name)
	fmt.Fprintf(out, "client_id:     %s\n", app.ClientID)
	if secret != "" {
		fmt.Fprintf(out, "client_secret: %s\n", secret)
		fmt.Fprintln(out, "The secret is shown this once; only its hash is stored.")
	}
	return nil
}
