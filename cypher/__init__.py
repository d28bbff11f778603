"""kgtag.cypher"""
