^XA
^CI28
^PW480^LL320^LH0,0
^FX Product name in a downloaded Unicode font (Vietnamese needs it).
^FO16,12^A@N,30,30,E:DEJAVU.TTF^FB448,2,0,L^FD{{product_name}}^FS
^FO16,84^A@N,22,22,E:DEJAVU.TTF^FDLot: {{lot}}   HSD: {{expiry?}}^FS
^FO16,112^A@N,22,22,E:DEJAVU.TTF^FDSerial: {{serial}}^FS
^FX GS1 DataMatrix: quality 200, escape character _ for FNC1.
^FO16,144^BXN,5,200,,,,_^FD{{element_string}}^FS
^FX Consumer QR: uncompressed GS1 Digital Link.
^FO300,120^BQN,2,4^FDMA,{{digital_link}}^FS
^FO150,150^A@N,18,18,E:DEJAVU.TTF^FB140,6,0,L^FD{{hri}}^FS
^XZ
