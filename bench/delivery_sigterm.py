"""How fast `treckk serve` stops on SIGTERM while a faulty receiver holds a send (60 s deadline).

Usage: python bench/delivery_sigterm.py smtp|webhook trickling|hanging|resetting|half-answering
Prints when the 12 file-channel notices were written and how long after SIGTERM the process exited.
"""
import sys, time, signal, subprocess, os, threading
sys.path.insert(0,'/work/wt-sturdy'); os.chdir('/work/wt-sturdy')
from tests.test_delivery_faults import FaultyPeer
proto, fault = sys.argv[1], sys.argv[2]
peer=FaultyPeer(proto, fault); threading.Thread(target=peer.serve_forever,daemon=True).start()
os.system("rm -rf /tmp/dbg.db* /tmp/dbg-out")
env={**os.environ,"TRECKK_DATABASE_URL":"sqlite:////tmp/dbg.db","TRECKK_OUTBOX_DIR":"/tmp/dbg-out"}
env.update({"TRECKK_SMTP_HOST":"127.0.0.1","TRECKK_SMTP_PORT":str(peer.port),"TRECKK_SMTP_TIMEOUT":"60"} if proto=="smtp" else {"TRECKK_WEBHOOK_URL":f"http://127.0.0.1:{peer.port}/k","TRECKK_WEBHOOK_TIMEOUT":"60"})
subprocess.run([sys.executable,"runner.py","init"],env=env,capture_output=True)
from engine.store.database import Database
from sqlalchemy import insert
from engine.store.schema import notices
from datetime import datetime, timezone, timedelta
db=Database("sqlite:////tmp/dbg.db"); now=datetime.now(timezone.utc); rows=[]
for i in range(12):
  for ch,to in ((proto,"a@b.go.id" if proto=="smtp" else "+62812"),("file",None)):
    rows.append({"message_id": f"{ch}-{i}@t", "case_id": None, "event_seq": None,"source": "schedule:uji", "template": "uji.txt.j2", "recipient_kind": "staff","recipient_name": "K", "recipient_username": "kabid","recipient_role": "kabid", "channel": ch, "address": to,"subject": "U", "body": "I\n", "is_html": False, "status": "pending","attempts": 0, "next_attempt_at": now-timedelta(minutes=1), "last_error": None,"created_at": now, "sent_at": None})
db.transaction(lambda c: c.execute(insert(notices), rows))
t0=time.time(); p=subprocess.Popen([sys.executable,"runner.py","serve"],env=env,stderr=subprocess.PIPE,text=True)
def files(): return len([f for f in os.listdir("/tmp/dbg-out") if f.endswith("@t.txt")]) if os.path.exists("/tmp/dbg-out") else 0
while files() < 12 and time.time()-t0 < 30: time.sleep(0.05)
t1=time.time(); peer.connected.wait(30); p.send_signal(signal.SIGTERM); t=time.time(); p.communicate(timeout=30)
print(f"{proto}-{fault}: {files()} file notices written {t1-t0:.2f} s after start; exit {time.time()-t:.2f} s after SIGTERM, rc={p.returncode}")
