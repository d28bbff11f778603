// Vector indexes of publish slot 'b' (kgstore.vectors; docs/graph-model.md "Published vectors"), run
// one statement at a time (split on ';'): videos by cosine (similar videos), tags by euclidean distance
// (live tags: the nearest to h_vid + r). $dim is the run's width. Quantization off: the index proposes
// candidates as close to the exact order as it can, which the live-tags query then re-ranks exactly.
CREATE VECTOR INDEX video_vectors_b IF NOT EXISTS FOR (v:Video) ON v.vec_b
OPTIONS {indexConfig: {`vector.dimensions`: $dim, `vector.similarity_function`: 'cosine',
                       `vector.quantization.enabled`: false}};
CREATE VECTOR INDEX tag_vectors_b IF NOT EXISTS FOR (t:Tag) ON t.vec_b
OPTIONS {indexConfig: {`vector.dimensions`: $dim, `vector.similarity_function`: 'euclidean',
                       `vector.quantization.enabled`: false}};
