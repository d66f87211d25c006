// Writes a bbolt database whose shape a small real database lacks: a bucket of 3,000 keys (branch pages over
// several levels of leaves), a value of 20,000 bytes (overflow pages), inline and page-sized nested buckets, and
// a deleted range (pages on the freelist). Used to test Muster's read-only bbolt reader against bbolt itself.
package main

import (
	"fmt"
	"os"
	"strings"

	bolt "go.etcd.io/bbolt"
)

func main() {
	db, err := bolt.Open(os.Args[1], 0600, nil)
	if err != nil {
		panic(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		many, err := tx.CreateBucket([]byte("many"))
		if err != nil {
			return err
		}
		for i := 0; i < 3000; i++ {
			key := fmt.Sprintf("key-%05d", i)
			if err := many.Put([]byte(key), []byte(strings.Repeat(key, 1+i%7))); err != nil {
				return err
			}
		}
		big, err := tx.CreateBucket([]byte("big"))
		if err != nil {
			return err
		}
		if err := big.Put([]byte("value"), []byte(strings.Repeat("0123456789", 2000))); err != nil {
			return err
		}
		nested, err := tx.CreateBucket([]byte("nested"))
		if err != nil {
			return err
		}
		small, err := nested.CreateBucket([]byte("inline"))
		if err != nil {
			return err
		}
		if err := small.Put([]byte("a"), []byte("1")); err != nil {
			return err
		}
		large, err := nested.CreateBucket([]byte("paged"))
		if err != nil {
			return err
		}
		for i := 0; i < 200; i++ {
			if err := large.Put([]byte(fmt.Sprintf("k%03d", i)), []byte(strings.Repeat("v", 40))); err != nil {
				return err
			}
		}
		_, err = nested.CreateBucket([]byte("empty"))
		return err
	})
	if err != nil {
		panic(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		many := tx.Bucket([]byte("many"))
		for i := 1000; i < 1500; i++ {
			if err := many.Delete([]byte(fmt.Sprintf("key-%05d", i))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		panic(err)
	}
	db.Close()
}
