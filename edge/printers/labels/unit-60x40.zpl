^XA
^CI28
^PW480^LL320^LH0,0
^FX Unit label, 60 x 40 mm at 203 dpi. Text in a downloaded Unicode font (Vietnamese).
^FX Product name: wrapped on two lines.
^FO16,8^A@N,24,24,E:DEJAVU.TTF^FB448,2,0,L^FD{{product_name}}^FS
^FO16,60^A@N,20,20,E:DEJAVU.TTF^FB448,1,0,L^FDNSX: {{production_date?}}  HSD: {{expiry?}}^FS
^FO16,84^A@N,20,20,E:DEJAVU.TTF^FB448,1,0,L^FDLô: {{lot}}^FS
^FO16,106^A@N,20,20,E:DEJAVU.TTF^FB448,1,0,L^FDSố sê-ri: {{serial}}^FS
^FX GS1 DataMatrix, X = 4 dots (0.5 mm): quality 200, escape character _ for FNC1.
^FO16,140^BXN,4,200,,,,_^FD{{element_string}}^FS
^FX Its human-readable interpretation, one (AI) value per word, wrapped.
^FO16,254^A@N,16,16,E:DEJAVU.TTF^FB268,4,0,L^FD{{hri_text}}^FS
^FX Consumer QR code: uncompressed GS1 Digital Link, X = 4 dots, quiet zone 4 modules.
^FO308,144^BQN,2,4^FDMA,{{digital_link}}^FS
^XZ
