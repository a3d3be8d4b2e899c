// Command writer is capture's test target: it maps a region of anonymous
// memory, touches every page, prints "region ADDR PAGES" and, once a line
// arrives on stdin, writes -rate distinct pages per second in address
// order (wrapping), on an absolute schedule checked every millisecond, so
// that any interval of t seconds sees rate×t writes whatever the sleeps.
// A line "grow" on stdin maps a second region of the same size, prints
// "region ADDR PAGES" for it and moves the writes there. It exits when
// stdin is closed.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"
)

func main() {
	pages := flag.Int("pages", 16384, "region size in 4 KiB pages")
	rate := flag.Float64("rate", 2000, "page writes per second")
	flag.Parse()
	mem, err := syscall.Mmap(-1, 0, *pages*4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for i := 0; i < len(mem); i += 4096 {
		mem[i] = 1
	}
	fmt.Printf("region %#x %d\n", uintptr(unsafe.Pointer(&mem[0])), *pages)
	in := bufio.NewReader(os.Stdin)
	if _, err := in.ReadString('\n'); err != nil {
		return
	}
	done := make(chan struct{})
	grow := make(chan struct{})
	go func() {
		for {
			line, err := in.ReadString('\n')
			if err != nil { // EOF when the test closes stdin
				close(done)
				return
			}
			if line == "grow\n" {
				grow <- struct{}{}
			}
		}
	}()
	start := time.Now()
	written := 0
	for {
		select {
		case <-done:
			return
		case <-grow:
			mem, err = syscall.Mmap(-1, 0, *pages*4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			fmt.Printf("region %#x %d\n", uintptr(unsafe.Pointer(&mem[0])), *pages)
		default:
		}
		due := int(time.Since(start).Seconds() * *rate)
		for ; written < due; written++ {
			mem[(written%*pages)*4096]++
		}
		time.Sleep(time.Millisecond)
	}
}
