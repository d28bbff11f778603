// Store one modality's vectors (float32 little-endian bytes) as property $key on the entities
// $eids (aligned with $vectors); an entity with modality features is a video.
UNWIND range(0, size($eids) - 1) AS i
MATCH (v) WHERE elementId(v) = $eids[i]
SET v:Video, v[$key] = $vectors[i]
REMOVE v:Tag
