^XA
^CI28
^PW800^LL560^LH0,0
^FX Case label, 100 x 70 mm at 203 dpi. Text in a downloaded Unicode font (Vietnamese).
^FO24,16^A@N,30,30,E:DEJAVU.TTF^FB600,2,0,L^FD{{product_name}}^FS
^FO24,84^A@N,24,24,E:DEJAVU.TTF^FB600,1,0,L^FDLô: {{lot}}^FS
^FO24,114^A@N,24,24,E:DEJAVU.TTF^FB600,1,0,L^FDHSD: {{expiry?}}^FS
^FO24,144^A@N,24,24,E:DEJAVU.TTF^FB600,1,0,L^FDSố lượng: {{extra.count}} đơn vị^FS
^FX The case's own identity, (00) SSCC, in a GS1 DataMatrix (X = 6 dots, 0.75 mm)...
^FO680,24^BXN,6,200,,,,_^FD_100{{extra.sscc}}^FS
^FX ...and in GS1-128 (X = 4 dots, 0.5 mm; bars 32 mm high), with its HRI below.
^BY4,3,256^FO88,192^BCN,256,N,N,N^FD>;>800{{extra.sscc}}^FS
^FO200,460^A@N,32,32,E:DEJAVU.TTF^FB560,1,0,L^FD(00) {{extra.sscc}}^FS
^XZ
