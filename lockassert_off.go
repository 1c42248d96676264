//go:build !lockassert

package libssh

// holder is empty without the lockassert build tag (see lockassert.go).
type holder struct{}

func (st *sessionState) heldBy()   { _ = st.lockHolder }
func (st *sessionState) released() {}

func (st *sessionState) checkUnsentLocked() {}
