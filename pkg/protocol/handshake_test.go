package protocol

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// handshake runs both sides over an in-memory pipe and returns each side's
// error. The client side is closed as soon as ClientHandshake returns, as a
// real client would, so a server waiting for more sees the hang-up.
func handshake(t *testing.T, clientSecret, serverSecret []byte) (clientErr, serverErr error) {
	t.Helper()
	client, server := net.Pipe()
	defer server.Close()
	serverDone := make(chan error, 1)
	go func() { serverDone <- ServerHandshake(server, serverSecret, 5*time.Second) }()
	clientErr = ClientHandshake(client, clientSecret, 5*time.Second)
	if clientErr != nil {
		client.Close()
	}
	serverErr = <-serverDone
	client.Close()
	return clientErr, serverErr
}

func TestHandshake(t *testing.T) {
	secret := []byte("s3cret")
	tests := []struct {
		name                 string
		clientSecret         []byte
		serverSecret         []byte
		clientWant, servWant string // "" means success
	}{
		{"no secrets", nil, nil, "", ""},
		{"same secret", secret, secret, "", ""},
		{"client only", secret, nil, "server does not authenticate; refusing (a cluster secret is configured)", ""},
		{"server only", nil, secret, "server requires a cluster secret (--secret-file)", "client did not authenticate"},
		{"wrong secret", []byte("other"), secret, "wrong cluster secret", "wrong cluster secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cerr, serr := handshake(t, tt.clientSecret, tt.serverSecret)
			check := func(side string, err error, want string) {
				t.Helper()
				if want == "" {
					if err != nil {
						t.Fatalf("%s: unexpected error %v", side, err)
					}
					return
				}
				if !errors.Is(err, ErrAuthFailed) || !strings.Contains(err.Error(), want) {
					t.Fatalf("%s: error %v, want ErrAuthFailed containing %q", side, err, want)
				}
			}
			check("client", cerr, tt.clientWant)
			check("server", serr, tt.servWant)
		})
	}
}

// TestHandshakeServerRejectsBadClientProof covers a client that sends a
// proof but the wrong one (the honest client never does: it rejects the
// server's proof first).
func TestHandshakeServerRejectsBadClientProof(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	serverDone := make(chan error, 1)
	go func() { serverDone <- ServerHandshake(server, []byte("secret"), 5*time.Second) }()

	if err := writeMessage(client, &Hello{Magic: Magic, Version: Version}); err != nil {
		t.Fatal(err)
	}
	var w Welcome
	if err := readMessage(client, &w); err != nil || !w.Auth {
		t.Fatalf("welcome %+v, %v", w, err)
	}
	if err := writeMessage(client, &Auth{Proof: []byte("forged")}); err != nil {
		t.Fatal(err)
	}
	var res AuthResult
	if err := readMessage(client, &res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Error, "wrong cluster secret") {
		t.Fatalf("auth result %q", res.Error)
	}
	if err := <-serverDone; !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("server: %v, want ErrAuthFailed", err)
	}
}

// TestHandshakeServerRejectsReflectedProof checks that the server's own
// proof, sent back, is not accepted as the client's.
func TestHandshakeServerRejectsReflectedProof(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	serverDone := make(chan error, 1)
	go func() { serverDone <- ServerHandshake(server, []byte("secret"), 5*time.Second) }()
	if err := writeMessage(client, &Hello{Magic: Magic, Version: Version}); err != nil {
		t.Fatal(err)
	}
	var w Welcome
	if err := readMessage(client, &w); err != nil {
		t.Fatal(err)
	}
	if err := writeMessage(client, &Auth{Proof: w.Proof}); err != nil {
		t.Fatal(err)
	}
	var res AuthResult
	_ = readMessage(client, &res)
	if err := <-serverDone; !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("server: %v, want ErrAuthFailed", err)
	}
}

func TestHandshakeBadHello(t *testing.T) {
	tests := []struct {
		name       string
		hello      Hello
		want       error
		wantReason string
	}{
		{"bad magic", Hello{Magic: "HTTP", Version: Version}, ErrBadMagic, "bad magic"},
		{"wrong version", Hello{Magic: Magic, Version: 7}, ErrVersion, "protocol version 7 not supported (this daemon speaks 1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, server := net.Pipe()
			defer client.Close()
			defer server.Close()
			serverDone := make(chan error, 1)
			go func() { serverDone <- ServerHandshake(server, nil, 5*time.Second) }()
			if err := writeMessage(client, &tt.hello); err != nil {
				t.Fatal(err)
			}
			var w Welcome
			if err := readMessage(client, &w); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(w.Error, tt.wantReason) {
				t.Fatalf("welcome error %q, want it to contain %q", w.Error, tt.wantReason)
			}
			if err := <-serverDone; !errors.Is(err, tt.want) {
				t.Fatalf("server: %v, want %v", err, tt.want)
			}
		})
	}
}

func TestClientHandshakeVersionMismatch(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	go func() {
		var h Hello
		if readMessage(server, &h) == nil {
			_ = writeMessage(server, &Welcome{Version: 2, Error: "protocol version 1 not supported (this daemon speaks 2)"})
		}
	}()
	err := ClientHandshake(client, nil, 5*time.Second)
	if !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), "this daemon speaks 2") {
		t.Fatalf("ClientHandshake = %v, want ErrVersion with the server's reason", err)
	}
}

func TestServerHandshakeGarbage(t *testing.T) {
	client, server := net.Pipe()
	defer server.Close()
	serverDone := make(chan error, 1)
	go func() { serverDone <- ServerHandshake(server, nil, 5*time.Second) }()
	go func() {
		_, _ = client.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
		client.Close()
	}()
	if err := <-serverDone; !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("server: %v, want ErrFrameTooLarge", err)
	}
}

func TestHandshakeTimeout(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	start := time.Now()
	err := ServerHandshake(server, nil, 50*time.Millisecond) // the client never speaks
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("ServerHandshake = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("timeout took %v", d)
	}
}

func TestHandshakeClearsDeadline(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	serverDone := make(chan error, 1)
	go func() { serverDone <- ServerHandshake(server, nil, 20*time.Millisecond) }()
	if err := ClientHandshake(client, nil, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := <-serverDone; err != nil {
		t.Fatal(err)
	}
	// Well after the handshake deadline, the connection still works.
	time.Sleep(50 * time.Millisecond)
	go func() { _ = WriteFrame(server, []byte("ok")) }()
	if _, err := ReadFrame(client, 0); err != nil {
		t.Fatalf("read after handshake: %v", err)
	}
}
