// Go's crypto/tls doing merhaba's job over TLS (read once, write, close): the
// stack of Go servers such as traefik/whoami, as a peer in the HTTPS rows.
// Standard library only; bench/bench.ts builds it with `go build` in a
// temporary directory and runs it with GOMAXPROCS=1.
//
//	go run bench/go_tls_peer.go [CERT KEY]
package main

import (
	"crypto/tls"
	"fmt"
	"log"
	"net"
	"os"
)

const body = "Merhaba dünya!"

var reply = []byte(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"+
	"Content-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body))

func main() {
	certFile, keyFile := "tests/testdata/localhost_cert.pem", "tests/testdata/localhost_key.pem"
	if len(os.Args) == 3 {
		certFile, keyFile = os.Args[1], os.Args[2]
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		log.Fatal(err)
	}
	listener, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %s\n", listener.Addr())
	for {
		conn, err := listener.Accept()
		if err != nil {
			continue // Out of descriptors, say: keep serving the open ones.
		}
		go handle(conn)
	}
}

func handle(conn net.Conn) {
	defer conn.Close()
	// The first Read runs the handshake; a failed one is the client's end.
	if _, err := conn.Read(make([]byte, 4096)); err == nil {
		conn.Write(reply)
	}
}
