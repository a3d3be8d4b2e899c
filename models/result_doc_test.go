package models

import (
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// Every field of Result and Round has a doc comment, and every quantity
// carries its unit in its JSON name or is a count or fraction listed here.
func TestResultFieldsDocumentedWithUnits(t *testing.T) {
	dimensionless := map[string]bool{
		// counts
		"seed": true, "rounds": true, "dirty_sync_count": true, "postcopy_requests": true,
		"minor_faults": true, "round": true, "pages": true, "zero_pages": true, "dirtied_pages": true,
		"total": true, "zero": true, "normal": true,
		"skipped_free_pages": true, "balloon_reclaimed_pages": true, "skipped_pagecache_pages": true,
		"steady_state_dirty_pages": true,
		// rates in pages per second, as QEMU names it
		"dirty_pages_rate": true,
		// fractions
		"guest_slowdown": true, "compression_ratio": true, "verdict_margin": true,
		// XBZRLE counts, fraction and ratio (QEMU's xbzrle-cache)
		"xbzrle_pages": true, "xbzrle_cache_misses": true, "xbzrle_overflow": true,
		"xbzrle_cache_miss_rate": true, "xbzrle_encoding_rate": true,
		// CPU time, seconds of one core, unit spelt out
		"cpu_seconds_source": true, "cpu_seconds_destination": true,
	}
	units := []string{"_s", "_bytes", "_bps", "_pct"}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "result.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok {
			return true
		}
		st, ok := ts.Type.(*ast.StructType)
		if !ok || (ts.Name.Name != "Result" && ts.Name.Name != "Round" && ts.Name.Name != "PageCounts") {
			return false
		}
		for _, fld := range st.Fields.List {
			name := fld.Names[0].Name
			if fld.Doc == nil || strings.TrimSpace(fld.Doc.Text()) == "" {
				t.Errorf("%s.%s has no doc comment", ts.Name.Name, name)
			}
			tag, _ := strconv.Unquote(fld.Tag.Value)
			key, _, _ := strings.Cut(reflect.StructTag(tag).Get("json"), ",")
			typ, _ := fld.Type.(*ast.Ident)
			if typ == nil || (typ.Name != "float64" && typ.Name != "uint64" && typ.Name != "int") {
				continue // text, flags, reasons, nested sections
			}
			checked++
			hasUnit := key == "bytes"
			for _, u := range units {
				hasUnit = hasUnit || strings.HasSuffix(key, u)
			}
			if !hasUnit && !dimensionless[key] {
				t.Errorf("%s.%s (json %q) is a quantity with no unit in its name", ts.Name.Name, name, key)
			}
		}
		return false
	})
	if checked < 20 {
		t.Fatalf("checked only %d quantities: did result.go move?", checked)
	}
}
