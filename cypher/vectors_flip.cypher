// The flip: the pointer names run $run in slot $slot from now on, in one transaction, so a query reads
// one run's vectors or the other's, never a mix. Only the publish that began this slot may flip it.
MATCH (p:Published {key: 'vectors'})
WHERE p.pending_run = $run AND p.pending_slot = $slot
SET p.run = $run, p.slot = $slot, p.property = $property, p.ranges = $ranges,
    p.video_index = $video_index, p.tag_index = $tag_index, p.base = $base, p.p_norm = $p_norm,
    p.dim = $dim, p.tags = $tags, p.conditioned = $conditioned, p.published_at = datetime()
REMOVE p.pending_run, p.pending_slot, p.pending_since
RETURN count(p) AS flipped
