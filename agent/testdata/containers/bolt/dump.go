// Prints every key of a bbolt database, depth first in key order, as bbolt itself reads it: the path of bucket
// names and the key in hex, then "bucket" or the value in hex.
package main

import (
	"encoding/hex"
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"
)

func walk(b *bolt.Bucket, path string) {
	b.ForEach(func(k, v []byte) error {
		p := path + "/" + hex.EncodeToString(k)
		if v == nil {
			fmt.Printf("%s\tbucket\n", p)
			walk(b.Bucket(k), p)
		} else {
			fmt.Printf("%s\t%s\n", p, hex.EncodeToString(v))
		}
		return nil
	})
}

func main() {
	db, err := bolt.Open(os.Args[1], 0400, &bolt.Options{ReadOnly: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			p := "/" + hex.EncodeToString(name)
			fmt.Printf("%s\tbucket\n", p)
			walk(b, p)
			return nil
		})
	})
}
