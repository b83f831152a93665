package sqlstore

import "sync"

// signals wakes the waiters of workspaces whose change log a committed
// transaction appended to (tandem.ChangeNotifier). One channel per
// workspace with waiters, closed and forgotten at the next such commit.
type signals struct {
	mu sync.Mutex
	ch map[string]chan struct{}
}

// ChangeSignal returns a channel closed when a transaction that appended
// to workspaceID's change log commits in this process.
func (db *DB) ChangeSignal(workspaceID string) <-chan struct{} {
	return db.signals.wait(workspaceID)
}

func (s *signals) wait(wsID string) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = map[string]chan struct{}{}
	}
	c := s.ch[wsID]
	if c == nil {
		c = make(chan struct{})
		s.ch[wsID] = c
	}
	return c
}

func (s *signals) fire(appended map[string]int) {
	if len(appended) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for wsID, n := range appended {
		if c := s.ch[wsID]; c != nil && n > 0 {
			close(c)
			delete(s.ch, wsID)
		}
	}
}
