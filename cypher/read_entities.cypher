// Every entity id and whether it is a video, as two aligned lists (one record).
MATCH (e:Entity)
RETURN collect(e.id) AS ids, collect(e:Video) AS video
