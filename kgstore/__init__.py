"""kgtag.kgstore"""
