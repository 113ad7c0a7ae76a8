//go:build ignore

// Command pgprobe checks that a PostgreSQL URL accepts a connection and a
// query, and prints the server version. scripts/test runs it with
// `go run scripts/pgprobe.go URL` when psql is not installed; the ignore
// build tag keeps it out of ./... .
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
)

// probeTimeout bounds the connection attempt and the query together.
const probeTimeout = 5 * time.Second

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run scripts/pgprobe.go postgres://...")
		os.Exit(2)
	}
	v, err := probe(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgprobe:", err)
		os.Exit(1)
	}
	fmt.Println(v)
}

func probe(url string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var v string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&v); err != nil {
		return "", err
	}
	return v, nil
}
