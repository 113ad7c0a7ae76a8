package httpapi

import (
	"context"
	"net/http"
	"runtime"
	"time"
)

// readyTimeout bounds each readiness check.
const readyTimeout = 2 * time.Second

// handleHealth is liveness: the process is up and serving.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// handleReady is readiness: the database answers and its schema is current.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	res := readiness{Status: "ready", Checks: map[string]string{"database": "ok", "migrations": "ok"}}
	if err := s.db.Ping(ctx); err != nil {
		s.log.WarnContext(ctx, "readiness: database unreachable", "err", err)
		res.Checks["database"] = "unreachable"
		res.Checks["migrations"] = "unknown"
	} else if cur, err := s.db.MigrationsCurrent(ctx); err != nil {
		s.log.WarnContext(ctx, "readiness: migration status", "err", err)
		res.Checks["migrations"] = "unknown"
	} else if !cur {
		res.Checks["migrations"] = "pending"
	}
	status := http.StatusOK
	for _, v := range res.Checks {
		if v != "ok" {
			res.Status, status = "unavailable", http.StatusServiceUnavailable
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, status, res)
}

type detailed struct {
	Status        string         `json:"status"`
	Version       string         `json:"version"`
	GoVersion     string         `json:"go_version"`
	Environment   string         `json:"environment"`
	UptimeSeconds int64          `json:"uptime_seconds"`
	Goroutines    int            `json:"goroutines"`
	Database      databaseDetail `json:"database"`
}

type databaseDetail struct {
	Engine            string `json:"engine"`
	Reachable         bool   `json:"reachable"`
	MigrationsCurrent bool   `json:"migrations_current"`
	OpenConnections   int    `json:"open_connections"`
	InUse             int    `json:"in_use"`
	Idle              int    `json:"idle"`
	WaitCount         int64  `json:"wait_count"`
}

// handleDetailed reports internals to administrators.
func (s *Server) handleDetailed(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	st := s.db.SQL().Stats()
	d := detailed{
		Status:        "ok",
		Version:       s.version,
		GoVersion:     runtime.Version(),
		Environment:   s.cfg.Env,
		UptimeSeconds: int64(s.now().Sub(s.started) / time.Second),
		Goroutines:    runtime.NumGoroutine(),
		Database: databaseDetail{
			Engine:          string(s.db.Dialect()),
			OpenConnections: st.OpenConnections,
			InUse:           st.InUse,
			Idle:            st.Idle,
			WaitCount:       st.WaitCount,
		},
	}
	if err := s.db.Ping(ctx); err == nil {
		d.Database.Reachable = true
		d.Database.MigrationsCurrent, _ = s.db.MigrationsCurrent(ctx)
	}
	if !d.Database.Reachable || !d.Database.MigrationsCurrent {
		d.Status = "degraded"
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, d)
}
