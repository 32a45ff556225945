^XA
^CI28
^PW800^LL560
^FO24,16^A@N,36,36,E:DEJAVU.TTF^FD{{product_name}}^FS
^FO24,70^A@N,24,24,E:DEJAVU.TTF^FD{{hri}}^FS
^FX GS1-128 in mode N: the driver writes >;>8 (start C, FNC1) and the subset switches.
^BY2,3,120^FO24,120^BCN,120,N,N,N^FD{{element_string}}^FS
^XZ
