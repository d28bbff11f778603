// A publish starts writing run $run into slot $slot: recorded on the pointer so that a resumed publish
// knows the slot is its own. The published run (if any) stays published until the flip.
MERGE (p:Published {key: 'vectors'})
SET p.pending_run = $run, p.pending_slot = $slot, p.pending_since = datetime()
