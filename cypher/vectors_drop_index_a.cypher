// Drop the vector indexes of publish slot 'a' (before the slot is written again, or once the pointer
// has moved to the other slot). Run one statement at a time (split on ';').
DROP INDEX video_vectors_a IF EXISTS;
DROP INDEX tag_vectors_a IF EXISTS;
