"""Documents: text boxes and their relations (``layout``), field normalisers (``normalize``),
identity-document fields (``fields``), the template-free bill reader (``bills``), the
document-type fusion model (``doctype``) and the pipeline stage (``stage``)."""
