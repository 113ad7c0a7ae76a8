package journal

import "context"

// SubmitAll exposes submitAll: it queues ops in order, then waits for all.
func (e *Engine) SubmitAll(ctx context.Context, ops []Op) ([]Result, []error) {
	return e.submitAll(ctx, ops)
}

// SetBeforeBatch installs a hook the writer calls after collecting a batch,
// before its transaction. Set it before Run.
func (e *Engine) SetBeforeBatch(f func(n int)) { e.beforeBatch = f }
