// Command meshlens runs the meshlens collector distribution.
package main

import (
	"os"

	"github.com/meshlens/meshlens/collector"
)

func main() {
	if err := collector.NewCommand().Execute(); err != nil {
		os.Exit(1)
	}
}
