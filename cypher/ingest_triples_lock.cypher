// Take the write lock on the batch's head nodes (in a fixed order) before reading their triples,
// so that two ingests of the same triples cannot both see "missing" and both create them.
UNWIND $heads AS hid
MATCH (h) WHERE elementId(h) = hid
SET h.kgtag_lock = true
REMOVE h.kgtag_lock
