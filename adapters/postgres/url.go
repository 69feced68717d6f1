package postgres

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

// ParseURL checks a postgres:// or postgresql:// URL and returns it
// without its password, for messages. Its errors never contain the
// password, whether it is in the user info or in a password= parameter.
func ParseURL(raw string) (redacted string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		if strings.Contains(raw, "@") {
			// url.Error repeats the whole URL, and its detail can repeat
			// part of a password holding a / or a % (`invalid port ":pa"
			// after host`): say what to look for instead.
			return "", errors.New("not a valid URL (details not shown, they could repeat the password; " +
				"percent-encode any @ : / ? # % in USER and PASSWORD)")
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("not a valid URL: %w", err)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return "", fmt.Errorf("not a postgres:// URL")
	}
	redacted, secrets := redact(u)
	if _, err := pgxpool.ParseConfig(raw); err != nil {
		msg := "settings not accepted"
		if inner := errors.Unwrap(err); inner != nil {
			msg += ": " + inner.Error()
		}
		for _, s := range secrets {
			msg = strings.ReplaceAll(msg, s, "xxxxx")
		}
		return "", fmt.Errorf("%s: %s", redacted, msg)
	}
	return redacted, nil
}

// redact returns u with its password shown as xxxxx, in the user info as
// url.URL.Redacted does and in password= parameters, which pgx reads as
// well; secrets are the passwords it hid, as written and unescaped.
func redact(u *url.URL) (redacted string, secrets []string) {
	if pw, ok := u.User.Password(); ok && pw != "" {
		secrets = append(secrets, pw)
	}
	shown := *u
	params := strings.Split(u.RawQuery, "&")
	for i, p := range params {
		k, v, _ := strings.Cut(p, "=")
		if key, err := url.QueryUnescape(k); k != "password" && (err != nil || key != "password") {
			continue
		}
		if v != "" {
			secrets = append(secrets, v)
			if pw, err := url.QueryUnescape(v); err == nil && pw != v {
				secrets = append(secrets, pw)
			}
		}
		params[i] = k + "=xxxxx"
	}
	shown.RawQuery = strings.Join(params, "&")
	return shown.Redacted(), secrets
}
