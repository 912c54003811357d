// Package store keeps a daemon's durable state: one bbolt file in its data
// directory, holding msgpack records in named buckets. Every write is synced
// to disk before it returns, so a record a caller has written survives a
// crash of the process or the machine.
package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	bolt "go.etcd.io/bbolt"
)

// ErrLocked means another process holds the data directory.
var ErrLocked = errors.New("store: data directory in use by another process")

// DB is an open store.
type DB struct {
	db   *bolt.DB
	path string
}

// Open opens (creating if needed) the store file at path. A second process
// opening the same file gets ErrLocked instead of waiting.
func Open(path string) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 500 * time.Millisecond})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s", ErrLocked, path)
	}
	if err != nil {
		return nil, fmt.Errorf("store: opening %s: %w", path, err)
	}
	return &DB{db: db, path: path}, nil
}

// Close closes the store.
func (d *DB) Close() error { return d.db.Close() }

// Put writes the record v under key in bucket, synced.
func (d *DB) Put(bucket, key string, v any) error {
	data, err := msgpack.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: encoding %s/%s: %w", bucket, key, err)
	}
	return d.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(bucket))
		if err != nil {
			return err
		}
		return b.Put([]byte(key), data)
	})
}

// Write puts and deletes records of bucket in one synced transaction: a
// batch of changes costs one disk sync, not one each. Deleting a missing
// record is not an error.
func (d *DB) Write(bucket string, puts map[string]any, deletes []string) error {
	if len(puts) == 0 && len(deletes) == 0 {
		return nil
	}
	enc := make(map[string][]byte, len(puts))
	for key, v := range puts {
		data, err := msgpack.Marshal(v)
		if err != nil {
			return fmt.Errorf("store: encoding %s/%s: %w", bucket, key, err)
		}
		enc[key] = data
	}
	return d.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(bucket))
		if err != nil {
			return err
		}
		for key, data := range enc {
			if err := b.Put([]byte(key), data); err != nil {
				return err
			}
		}
		for _, key := range deletes {
			if err := b.Delete([]byte(key)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Delete removes a record; a missing one is not an error.
func (d *DB) Delete(bucket, key string) error {
	return d.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if b == nil {
			return nil
		}
		return b.Delete([]byte(key))
	})
}

// AsideSuffix names the bucket where MoveAside keeps the records of a bucket it moved.
const AsideSuffix = ".unreadable"

// MoveAside moves the record under key from bucket to bucket+AsideSuffix, its bytes as they
// are, in one synced transaction: a record that cannot be read any more is kept for a person
// to look at, and no longer read at every start.
func (d *DB) MoveAside(bucket, key string) error {
	return d.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if b == nil {
			return nil
		}
		data := b.Get([]byte(key))
		if data == nil {
			return nil
		}
		aside, err := tx.CreateBucketIfNotExists([]byte(bucket + AsideSuffix))
		if err != nil {
			return err
		}
		if err := aside.Put([]byte(key), append([]byte(nil), data...)); err != nil {
			return err
		}
		return b.Delete([]byte(key))
	})
}

// Get reads the record under key into v; found is false when there is none.
func (d *DB) Get(bucket, key string, v any) (found bool, err error) {
	err = d.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if b == nil {
			return nil
		}
		data := b.Get([]byte(key))
		if data == nil {
			return nil
		}
		found = true
		return msgpack.Unmarshal(data, v)
	})
	if err != nil {
		return false, fmt.Errorf("store: reading %s/%s: %w", bucket, key, err)
	}
	return found, nil
}

// Each calls fn with every key of bucket, in key order, and a decode
// function for its record. A record that fails to decode is reported by
// decode, not by Each, so one bad record does not hide the others.
func (d *DB) Each(bucket string, fn func(key string, decode func(v any) error) error) error {
	return d.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			return fn(string(k), func(dst any) error { return msgpack.Unmarshal(v, dst) })
		})
	})
}

// SyncDir makes the creations, renames and removals in dir durable: a file synced and renamed
// into place is on disk only once its directory is synced too.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
