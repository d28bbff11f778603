// One (:Relation {name}) per relation name used by a triple.
UNWIND $names AS name
MERGE (:Relation {name: name})
