// How many entities carry a vector under $property (a publish slot's, e.g. 'vec_a').
MATCH (e:Entity) WHERE e[$property] IS NOT NULL
RETURN count(e) AS n
