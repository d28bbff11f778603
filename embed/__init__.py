"""kgtag.embed"""
