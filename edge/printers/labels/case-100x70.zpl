^XA
^CI28
^PW800^LL560
^FO24,16^A@N,36,36,E:DEJAVU.TTF^FD{{product_name}}^FS
^FO24,70^A@N,24,24,E:DEJAVU.TTF^FD{{hri}}^FS
^FX GS1-128 in mode N: the driver writes >;>8 (start C, FNC1) and the subset switches.
^BY2,3,120^FO24,120^BCN,120,N,N,N^FD{{element_string}}^FS
^FX The case's own identity: GS1 DataMatrix of (00) SSCC, read back by the case scanner.
^FO24,300^A@N,28,28,E:DEJAVU.TTF^FD(00) {{extra.sscc}}^FS
^FO560,280^BXN,8,200,,,,_^FD_100{{extra.sscc}}^FS
^XZ
