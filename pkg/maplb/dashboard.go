package maplb

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"time"

	"github.com/dlbp/dlbp/pkg/protocol"
	"github.com/dlbp/dlbp/pkg/transport"
)

//go:embed web/index.html
var web embed.FS

// lostNodeMemory is how long the dashboard shows a node that left as dead.
const lostNodeMemory = 10 * time.Minute

// lostNode is a node that left the cluster, remembered for the dashboard.
type lostNode struct {
	info protocol.NodeInfo
	at   time.Time
}

// dashboard returns the HTTP routes of the operator's dashboard: the page
// itself (no resource from the internet) and the JSON it polls.
func (m *MapLB) dashboard() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		page, _ := web.ReadFile("web/index.html")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(page)
	})
	mux.HandleFunc("GET /api/nodes", m.apiNodes)
	mux.HandleFunc("GET /api/jobs", m.apiJobs)
	mux.HandleFunc("GET /api/jobs/{id}", m.apiJob)
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(v)
}

// apiNodes lists the live members, then the nodes lost lately as "dead".
func (m *MapLB) apiNodes(w http.ResponseWriter, r *http.Request) {
	l, err := m.handleNodes(r.Context(), &protocol.Empty{})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	nodes := l.Nodes
	m.mu.Lock()
	for name, ln := range m.lostNodes {
		if time.Since(ln.at) > lostNodeMemory {
			delete(m.lostNodes, name)
			continue
		}
		dead := ln.info
		dead.State, dead.Running = "dead", 0
		nodes = append(nodes, dead)
	}
	m.mu.Unlock()
	sort.SliceStable(nodes, func(a, b int) bool { return nodes[a].Name < nodes[b].Name })
	writeJSON(w, nodes)
}

func (m *MapLB) apiJobs(w http.ResponseWriter, r *http.Request) {
	l, _ := m.handleList(r.Context(), &protocol.Empty{})
	out := make([]protocol.StatusJSON, 0, len(l.Jobs))
	for i := len(l.Jobs) - 1; i >= 0; i-- { // newest first
		out = append(out, protocol.ToJSON(&l.Jobs[i]))
	}
	writeJSON(w, out)
}

func (m *MapLB) apiJob(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	st, err := m.handleStatus(ctx, &protocol.JobRef{Job: r.PathValue("id")})
	var te *transport.Error
	if errors.As(err, &te) && te.Code == transport.CodeNotFound {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, protocol.ToJSON(st))
}
