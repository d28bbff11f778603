// Make entities videos (a tag that turns out to be a video loses :Tag) and set their display
// properties. $eids element ids and $props maps, aligned.
UNWIND range(0, size($eids) - 1) AS i
MATCH (v) WHERE elementId(v) = $eids[i]
SET v:Video, v += $props[i]
REMOVE v:Tag
