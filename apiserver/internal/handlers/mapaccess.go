package handlers

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// valueAt walks a generic JSON document along keys.
func valueAt(doc any, keys ...string) any {
	cur := doc
	for _, k := range keys {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

// stringAt renders the value at keys as a string ("" when absent); numbers and booleans are
// formatted, which is what field selectors compare against.
func stringAt(doc any, keys ...string) string {
	switch v := valueAt(doc, keys...).(type) {
	case nil:
		return ""
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case json.Number:
		return v.String()
	default:
		return fmt.Sprint(v)
	}
}

// intAt returns the number at keys, or def when absent.
func intAt(doc any, def int64, keys ...string) int64 {
	switch v := valueAt(doc, keys...).(type) {
	case float64:
		return int64(v)
	case json.Number:
		n, _ := v.Int64()
		return n
	}
	return def
}

// listAt returns the array at keys.
func listAt(doc any, keys ...string) []any {
	l, _ := valueAt(doc, keys...).([]any)
	return l
}

// mapAt returns the object at keys.
func mapAt(doc any, keys ...string) map[string]any {
	m, _ := valueAt(doc, keys...).(map[string]any)
	return m
}
