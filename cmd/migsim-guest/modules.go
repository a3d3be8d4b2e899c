package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// modulesDir is where the boot kit puts the kernel modules to load, named
// so that sorting them gives the load order (dependencies first).
const modulesDir = "/modules"

// moduleInitCompressedFile is finit_module's MODULE_INIT_COMPRESSED_FILE:
// the kernel decompresses the module itself (CONFIG_MODULE_DECOMPRESS).
const moduleInitCompressedFile = 4

// loadModules loads every module in dir in name order and reports each on
// log ("MIGSIM module NAME loaded" or "... failed: ERR"). A module that
// fails does not stop the others or the replay: the lab asks for a device
// (the balloon) only when it needs it, and then sees the failure on the
// console. It returns how many loaded.
func loadModules(dir string, log io.Writer) int {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0 // no modules in this boot kit
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		if !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	loaded := 0
	for _, name := range names {
		if err := loadModule(filepath.Join(dir, name)); err != nil {
			fmt.Fprintf(log, "MIGSIM module %s failed: %v\n", name, err)
			continue
		}
		loaded++
		fmt.Fprintf(log, "MIGSIM module %s loaded\n", name)
	}
	return loaded
}

func loadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	flags := 0
	if !strings.HasSuffix(path, ".ko") {
		flags = moduleInitCompressedFile
	}
	err = unix.FinitModule(int(f.Fd()), "", flags)
	if err == unix.EEXIST {
		return nil // built in, or loaded already
	}
	return err
}
