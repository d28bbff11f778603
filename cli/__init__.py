"""kgtag.cli"""
