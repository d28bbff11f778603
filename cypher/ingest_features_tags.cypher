// Which of $eids (element ids) are tags: the tail of a triple and not a video. Features must not turn
// a tag into a video; returns their positions in $eids.
UNWIND range(0, size($eids) - 1) AS i
MATCH (e) WHERE elementId(e) = $eids[i] AND NOT e:Video AND EXISTS { ()-[:TRIPLE]->(e) }
RETURN collect(i) AS rows
