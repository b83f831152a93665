package tracking

import (
	"encoding/base64"
	"regexp"
	"strconv"
	"strings"

	"github.com/tandemml/tandem"
)

// clause is one comparison of an MLflow search filter: entity is
// "attribute", "metric", "param" or "tag"; key the name compared; op one of
// =, !=, >, >=, <, <=, LIKE, ILIKE; value a string or a number (num).
type clause struct {
	entity, key, op, value string
	num                    float64
	isNum                  bool
}

// filterRE matches one clause: an identifier (entity.key, quoted keys with
// backquotes or double quotes), an operator and a quoted string or a
// number.
var filterRE = regexp.MustCompile(`^\s*([A-Za-z_]+)(?:\.(` + "`[^`]+`" + `|"[^"]+"|[\w.\-:/ ]+?))?\s*(!=|>=|<=|=|>|<|(?i:NOT\s+LIKE|ILIKE|LIKE)\b)\s*('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[-+]?[0-9.eE+\-]+)\s*`)

var andRE = regexp.MustCompile(`(?i)^\s*AND\b`)

// entities maps MLflow's identifier prefixes to entities.
var entities = map[string]string{
	"attribute": "attribute", "attributes": "attribute", "attr": "attribute", "run": "attribute",
	"metric": "metric", "metrics": "metric",
	"param": "param", "params": "param", "parameter": "param", "parameters": "param",
	"tag": "tag", "tags": "tag",
}

// parseFilter parses MLflow's filter syntax subset: comparisons joined by
// AND. An identifier without an entity prefix is an attribute (name,
// status, run_name, ...).
func parseFilter(s string) ([]clause, error) {
	var out []clause
	rest := strings.TrimSpace(s)
	for rest != "" {
		if len(out) > 0 {
			loc := andRE.FindStringIndex(rest)
			if loc == nil {
				return nil, badFilter(s, "expected AND between comparisons (OR is not supported)")
			}
			rest = rest[loc[1]:]
		}
		m := filterRE.FindStringSubmatch(rest)
		if m == nil {
			return nil, badFilter(s, "expected <identifier> <operator> <value>, e.g. name = 'x' or metrics.loss < 0.5")
		}
		rest = strings.TrimSpace(rest[len(m[0]):])
		c := clause{op: strings.ToUpper(strings.Join(strings.Fields(m[3]), " "))}
		if m[2] == "" {
			c.entity, c.key = "attribute", m[1]
		} else {
			e, ok := entities[strings.ToLower(m[1])]
			if !ok {
				return nil, badFilter(s, "unknown entity "+strconv.Quote(m[1])+": use attributes, metrics, params or tags")
			}
			c.entity, c.key = e, unquoteKey(m[2])
		}
		v := m[4]
		if v[0] == '\'' || v[0] == '"' {
			c.value = strings.ReplaceAll(v[1:len(v)-1], `\`+v[:1], v[:1])
		} else {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, badFilter(s, "invalid number "+v)
			}
			c.num, c.isNum, c.value = n, true, v
		}
		out = append(out, c)
	}
	return out, nil
}

func unquoteKey(k string) string {
	if len(k) >= 2 && (k[0] == '`' || k[0] == '"') && k[len(k)-1] == k[0] {
		return k[1 : len(k)-1]
	}
	return strings.TrimSpace(k)
}

func badFilter(filter, why string) error {
	return tandem.Errorf(tandem.EInvalid, "invalid filter %q: %s", filter, why).WithTarget("filter")
}

// matchString compares a string with a clause's value.
func matchString(c clause, s string) bool {
	switch c.op {
	case "=":
		return s == c.value
	case "!=":
		return s != c.value
	case "LIKE":
		return likeRE(c.value, false).MatchString(s)
	case "NOT LIKE":
		return !likeRE(c.value, false).MatchString(s)
	case "ILIKE":
		return likeRE(c.value, true).MatchString(s)
	case ">":
		return s > c.value
	case ">=":
		return s >= c.value
	case "<":
		return s < c.value
	case "<=":
		return s <= c.value
	}
	return false
}

// matchNumber compares a number with a clause's numeric value.
func matchNumber(c clause, x float64) bool {
	switch c.op {
	case "=":
		return x == c.num
	case "!=":
		return x != c.num
	case ">":
		return x > c.num
	case ">=":
		return x >= c.num
	case "<":
		return x < c.num
	case "<=":
		return x <= c.num
	}
	return false
}

// likeRE turns an SQL LIKE pattern (% any run, _ one character) into a
// regular expression.
func likeRE(pattern string, fold bool) *regexp.Regexp {
	var b strings.Builder
	if fold {
		b.WriteString("(?is)^")
	} else {
		b.WriteString("(?s)^")
	}
	for _, r := range pattern {
		switch r {
		case '%':
			b.WriteString(".*")
		case '_':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// orderKey is one term of an order_by: entity and key as in a filter,
// descending or not.
type orderKey struct {
	entity, key string
	desc        bool
}

func parseOrderBy(terms []string, attributes map[string]bool) ([]orderKey, error) {
	var out []orderKey
	for _, t := range terms {
		f := strings.Fields(t)
		if len(f) == 0 || len(f) > 2 {
			return nil, tandem.Errorf(tandem.EInvalid, "invalid order_by clause %q", t).WithTarget("order_by")
		}
		o := orderKey{entity: "attribute", key: f[0]}
		if e, k, ok := strings.Cut(f[0], "."); ok {
			ent, known := entities[strings.ToLower(e)]
			if !known {
				return nil, tandem.Errorf(tandem.EInvalid, "invalid order_by clause %q: unknown entity %q", t, e).WithTarget("order_by")
			}
			o.entity, o.key = ent, unquoteKey(k)
		}
		if o.entity == "attribute" && !attributes[o.key] {
			return nil, tandem.Errorf(tandem.EInvalid, "invalid order_by clause %q: cannot order by %q", t, o.key).WithTarget("order_by")
		}
		if len(f) == 2 {
			switch strings.ToUpper(f[1]) {
			case "ASC":
			case "DESC":
				o.desc = true
			default:
				return nil, tandem.Errorf(tandem.EInvalid, "invalid order_by clause %q: expected ASC or DESC", t).WithTarget("order_by")
			}
		}
		out = append(out, o)
	}
	return out, nil
}

// pageBounds reads a page token (an offset) and a page size, and returns
// the token of the next page of a list of n items.
func pageBounds(token string, maxResults, limit, n int) (start, end int, next string, err error) {
	if maxResults < 0 || maxResults > limit {
		return 0, 0, "", tandem.Errorf(tandem.EInvalid, "max_results must be from 1 to %d, got %d", limit, maxResults).WithTarget("max_results")
	}
	if maxResults == 0 {
		maxResults = limit
	}
	if token != "" {
		b, derr := base64.RawURLEncoding.DecodeString(token)
		off, aerr := strconv.Atoi(string(b))
		if derr != nil || aerr != nil || off < 0 {
			return 0, 0, "", tandem.Errorf(tandem.EInvalid, "invalid page_token %q", token).WithTarget("page_token")
		}
		start = off
	}
	start = min(start, n)
	end = min(start+maxResults, n)
	if end < n {
		next = base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(end)))
	}
	return start, end, next, nil
}
